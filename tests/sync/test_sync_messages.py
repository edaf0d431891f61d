"""What ``localsweep sync`` says about a run wandb sync left unfinished: wandb's own error
when it has text, and what a bare exception name means when it has none (a row that read
``wandb sync did not finish it: HandleAbandonedError:`` named no cause and no fix)."""

from __future__ import annotations

from localsweep._sync._report import unfinished_message


def test_a_bare_handle_abandoned_error_says_what_happened() -> None:
    message = unfinished_message("r1", ["ERROR HandleAbandonedError: "])
    assert message == (
        "wandb sync did not finish it: HandleAbandonedError: wandb-core, wandb's uploading "
        "process, stopped answering during the upload (it crashed or was killed; a retry "
        "starts a new one)"
    )


def test_another_bare_error_says_wandb_gave_no_reason() -> None:
    assert unfinished_message("r1", ["SomeError:"]).endswith("SomeError: wandb gave no reason")


def test_errors_with_text_are_kept_as_wandb_printed_them() -> None:
    errors = ["run r1: 404 sweep not found", "run r2: 409 conflict", "upload timed out"]
    assert (
        unfinished_message("r1", errors)
        == "wandb sync did not finish it: run r1: 404 sweep not found"
    )
    assert unfinished_message("r3", errors[2:]) == "wandb sync did not finish it: upload timed out"
