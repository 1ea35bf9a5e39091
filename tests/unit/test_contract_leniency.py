"""Shapes CONTRACT.md leaves open are accepted in every form a server may use."""

from vilnius_client import NewMessageEvent
from vilnius_client.events import BulkAssignResponse, Reassignment

MESSAGE = {
    "id": "m1",
    "conversationId": "c1",
    "content": "hi",
    "sender": "visitor",
    "timestamp": "2026-11-26T10:00:00.000Z",
    "seq": 7,
}


def test_an_unstored_ai_suggestion_may_have_no_seq() -> None:
    suggestion = {**MESSAGE, "id": "s1", "sender": "agent"}
    del suggestion["seq"]
    event = NewMessageEvent.model_validate(
        {
            "conversationId": "c1",
            "message": MESSAGE,
            "aiSuggestion": suggestion,
            "timestamp": 1764151200000,
        }
    )
    assert event.message.seq == 7
    assert event.ai_suggestion is not None
    assert event.ai_suggestion.seq is None
    assert event.ai_suggestion.content == "hi"


def test_bulk_assign_answer_may_be_a_list_or_a_count() -> None:
    listed = BulkAssignResponse.model_validate(
        {"success": True, "reassigned": [{"conversationId": "c1", "toAgentId": "a1"}]}
    )
    assert listed.reassigned == [Reassignment(conversation_id="c1", to_agent_id="a1")]
    counted = BulkAssignResponse.model_validate({"success": True, "reassigned": 2})
    assert counted.reassigned == 2
