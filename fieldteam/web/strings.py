"""The texts the mobile web's JavaScript shows, translatable like every other string.

They reach the page as one JSON blob (``json_script``) rendered with the page's language, so the
JavaScript holds no user-facing text of its own and works offline in the language it was cached in.
"""

from __future__ import annotations

from django.utils.translation import gettext_lazy as _

from fieldteam.choices import AssistanceChannel, AssistanceOutcome, NotDoneReason, Sex

MESSAGES = {
    # The outbox (work saved on the phone, waiting for a connection).
    "waiting": _("Waiting to send"),
    "waiting_n": _("%(n)s waiting to send"),
    "rejected_n": _("%(n)s rejected"),
    "sending": _("Sending…"),
    "sent": _("Sent"),
    "saved_sent": _("Saved and sent."),
    "saved_waiting": _("Saved on this phone. It will be sent when the connection returns."),
    "rejected": _("Rejected"),
    "rejected_reason": _("The server did not accept this:"),
    "conflict": _("This was already sent with other content. Correct it to send it as a new record."),
    "blocked": _("Waiting for “%(what)s” to be corrected or discarded."),
    "correct": _("Correct"),
    "discard": _("Discard"),
    "discard_confirm": _("Discard this record? It will not be sent."),
    "save_correction": _("Save and send again"),
    "cancel": _("Cancel"),
    "send_now": _("Send now"),
    "nothing_waiting": _("Nothing is waiting to send."),
    "offline": _("No connection. Your work is saved on this phone and sent when the connection returns."),
    "signin_again": _("Sign in again to send the work saved on this phone."),
    "retry_in": _("Could not reach the server. Trying again in %(s)s s."),
    "server_error": _("The server answered with an error (%(status)s)."),
    "logout_pending": _(
        "These records have not been sent yet. Logging out removes the citizen IDs and phone numbers typed "
        "into them from this phone; the rest stays here and is sent when you sign in again. Log out?"
    ),
    "other_user": _("%(n)s records saved by another user on this phone wait for them to sign in."),
    # Forms.
    "choose_capability": _("Choose at least one thing you helped with."),
    "choose_reason": _("Say why it was not done."),
    "need_name": _("Enter the full name."),
    "need_sex": _("Choose male or female."),
    "need_birth_year": _("Enter the birth year (for example 1985)."),
    "bad_birth_year": _("The birth year must be between 1890 and this year."),
    "bad_citizen_id": _("A citizen ID has exactly 12 digits."),
    "bad_phone": _("A mobile number has 10 digits starting with 0."),
    "need_consent": _("Read the notice and tick the consent before writing down a CCCD or phone number."),
    "need_topic": _("Enter the topic."),
    "need_start": _("Enter when the session started."),
    "need_attendee": _("Tick at least one attendee."),
    "need_village": _("Choose a village."),
    "fix_errors": _("Please correct the fields marked in red."),
    "save_n": _("Save (%(n)s)"),
    "selected_n": _("%(n)s selected"),
    "household_saved": _("Household saved with %(n)s people."),
    "people_saved": _("%(n)s people saved."),
    "household_saved_waiting": _("Household with %(n)s people saved on this phone, not sent yet."),
    "household_not_saved": _("Nothing was saved: the household and its people were not registered."),
    "people_saved_waiting": _("%(n)s people saved on this phone, not sent yet."),
    "people_partly_saved": _("%(saved)s of %(n)s people saved; the others were not."),
    "register_another": _("Register another household"),
    "add_people_to": _("Add people to %(household)s"),
    "log_for": _("Log help for %(name)s"),
    "person_n": _("Person %(n)s"),
    "remove": _("Remove"),
    # Lists and pages from the offline copy.
    "not_found": _("No one found."),
    "searching_offline": _("Results from the list saved on this phone."),
    "identifier_search": _("Press Search to look up this phone or citizen ID number (needs a connection)."),
    "local_tag": _("not sent yet"),
    "held_since": _("since %(date)s"),
    "history_online": _("The history of help is shown when there is a connection."),
    "no_roster": _("The list of residents is not on this phone yet. Open the home page once with a connection."),
    "born": _("born %(year)s"),
    "members_n": _("%(n)s people"),
    "household_of": _("Household of %(name)s"),
    "unknown": _("Not found on this phone."),
    "done": AssistanceOutcome.DONE.label,
    "not_done": AssistanceOutcome.NOT_DONE.label,
    "kind_assistance_log": _("Help given"),
    "kind_household": _("New household"),
    "kind_resident": _("New resident"),
    "kind_training_session": _("Training session"),
    "saved_at": _("saved %(time)s"),
}

FIELD_LABELS = {
    "full_name": _("Full name"),
    "sex": _("Sex"),
    "birth_year": _("Birth year"),
    "birth_date": _("Birth date"),
    "citizen_id": _("Citizen ID (CCCD)"),
    "phone": _("Phone"),
    "code": _("Household code"),
    "head_name": _("Head of household"),
    "address": _("Address"),
    "village": _("Village"),
    "household": _("Household"),
    "resident": _("Resident"),
    "team": _("Team"),
    "occurred_at": _("Time"),
    "channel": _("How"),
    "note": _("Note"),
    "items": _("What you helped with"),
    "topic": _("Topic"),
    "started_at": _("Started"),
    "ended_at": _("Ended"),
    "capability": _("Skill taught"),
    "attendees": _("Attendees"),
    "non_field_errors": _("Record"),
}


def js_strings() -> dict[str, object]:
    """Everything the JavaScript shows, in the active language."""
    return {
        "m": {key: str(text) for key, text in MESSAGES.items()},
        "fields": {key: str(text) for key, text in FIELD_LABELS.items()},
        "reasons": {value: str(label) for value, label in NotDoneReason.choices},
        "channels": {value: str(label) for value, label in AssistanceChannel.choices},
        "sex": {value: str(label) for value, label in Sex.choices},
    }
