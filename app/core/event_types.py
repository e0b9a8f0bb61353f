"""The catalog of event types: every type the API emits, with what it means."""

from __future__ import annotations

EVENT_TYPES: dict[str, str] = {
    "person.created": "A person was created (directly or by the HRIS upsert).",
    "person.updated": "A person's fields changed.",
    "person.deleted": "A person without history was deleted.",
    "person.manager_changed": "A person's manager changed (any path: PATCH, upsert, batch). "
    "Data: `person_id`, `from_manager_id`, `to_manager_id` (either may be null). With the "
    "tenant's `on_manager_change` = `reassign`, the moved work has its own `.updated` events.",
    "person.erased": "A person's personal data was anonymised; their records remain.",
    "person.exported": "An export of everything held about a person was written (subject: the "
    "export job, `subject_type` `export`; the platform's only, like its other audit events).",
    "mentorship.created": "A mentor and mentee were paired.",
    "mentorship.updated": "A mentorship's fields changed.",
    "mentorship.ended": "A mentorship ended.",
    "mentorship.deleted": "A mentorship was deleted.",
    "conversation.created": "A conversation was created as a draft.",
    "conversation.updated": "A conversation's fields changed.",
    "conversation.scheduled": "A conversation was scheduled.",
    "conversation.rescheduled": "A scheduled conversation moved to another time.",
    "conversation.prepared": "One party marked themselves prepared for a conversation.",
    "conversation.completed": "A conversation took place and was completed.",
    "conversation.canceled": "A conversation was canceled, with a reason.",
    "conversation.deleted": "A conversation was deleted.",
    "conversation.reminder": "A scheduled conversation starts soon; lists who has not prepared.",
    "conversation.preparation_revealed": "Sealed agenda items became shared: both parties "
    "prepared, the conversation was completed or its start passed (once per conversation).",
    "conversation.reschedule_threshold_reached": "A conversation was rescheduled as many "
    "times as the tenant's `reschedule_alert_threshold` (once per conversation).",
    "cadence.due_soon": "An active employee's cadence for a conversation kind comes due "
    "within the tenant's `cadence_warning_days` (once per due date).",
    "cadence.breached": "An active employee went longer than the tenant's `cadence_days` "
    "without a completed conversation of that kind (once per breach; a completion re-arms).",
    "conversation_series.created": "A recurring conversation series was created.",
    "conversation_series.updated": (
        "A series changed (rule, start, zone, duration, template, external id or metadata); a "
        "new rule or time regenerates the occurrences that have not started."
    ),
    "conversation_series.paused": "A series was paused: no further occurrences are created.",
    "conversation_series.resumed": "A paused series was resumed.",
    "conversation_series.ended": "A series was ended for good.",
    "agenda_item.created": "A talking point was added to a conversation's agenda.",
    "agenda_item.updated": "An agenda item changed (text, position, discussed flag).",
    "agenda_item.deleted": "An agenda item was removed.",
    "note.created": "A shared note was added to a conversation (private notes emit nothing).",
    "note.updated": "A shared note changed.",
    "note.deleted": "A shared note was deleted.",
    "goal.created": "A career goal was proposed.",
    "goal.updated": "A goal's fields or progress changed.",
    "goal.agreed": "Both the employee and the facilitator agreed to a goal.",
    "goal.started": "Work on an agreed goal started.",
    "goal.achieved": "A goal was achieved.",
    "goal.abandoned": "A goal was abandoned.",
    "goal.deleted": "A goal was deleted.",
    "action_plan.created": "An action plan was created.",
    "action_plan.updated": "An action plan changed.",
    "action_plan.deleted": "An action plan was deleted.",
    "action_item.created": "A step was added to an action plan.",
    "action_item.updated": "An action item changed.",
    "action_item.completed": "An action item was marked done.",
    "action_item.deleted": "An action item was deleted.",
    "action_item.overdue": "An action item passed its due date without being done.",
    "feedback.created": "Feedback was given.",
    "feedback.updated": "Feedback was edited.",
    "feedback.deleted": "Feedback was deleted.",
    "feedback_request.created": "Someone was asked for feedback.",
    "feedback_request.updated": "A feedback request changed (prompt, due time, metadata).",
    "feedback_request.answered": "A feedback request was answered (see feedback.created).",
    "feedback_request.declined": "A feedback request was declined.",
    "feedback_request.expired": "A feedback request passed its due time unanswered.",
    "feedback_request.deleted": "A feedback request was deleted.",
    "follow_up.created": "A follow-up was scheduled after a conversation.",
    "follow_up.updated": "A follow-up changed (for example its due time).",
    "follow_up.completed": "A follow-up was completed.",
    "follow_up.canceled": "A follow-up was canceled.",
    "follow_up.deleted": "A follow-up was deleted.",
    "follow_up.reminder": "A follow-up comes due soon (tenant-configurable lead time).",
    "follow_up.due": "A follow-up is due now.",
    "follow_up.overdue": "A follow-up is still pending after its grace period.",
    "aspiration.updated": "An employee recorded a new version of their aspiration "
    "(target role, level, horizon, mobility).",
    "assessment.updated": "A manager or mentor recorded a new version of their assessment "
    "of a person (realistic role, level, readiness).",
    "alignment.changed": "A person's alignment status (`unknown`, `aligned`, `gap`) changed "
    "after an aspiration or assessment write (once per change; data: `from`, `to`, "
    "`differences`).",
    "alignment.gap_detected": "A person's alignment entered `gap`: their aspiration and the "
    "assessment differ (once per entry; data: `differences`).",
    "competency.created": "A competency was added to the career framework.",
    "competency.updated": "A competency's name, description, category or metadata changed.",
    "competency.deleted": "A competency no goal, feedback or career track level used was deleted.",
    "career_track.created": "A career track was created with its levels.",
    "career_track.updated": "A career track or its levels changed.",
    "career_track.deleted": "A career track and its levels were deleted.",
    "webhook_endpoint.disabled": "The system disabled a webhook endpoint that kept failing.",
    "webhook.test": "A test event sent on request to one endpoint.",
}
