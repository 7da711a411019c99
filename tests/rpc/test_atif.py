"""``session/export_atif``'s renderer: tool calls and their results land on one agent step."""

from __future__ import annotations

from mobkat.history import (
    AssistantBlock,
    BlockAssistantRow,
    SystemNoticeRow,
    ToolResult,
    ToolResultsRow,
    Usage,
    UserRow,
)
from mobkat.rpc.atif import trajectory
from mobkat.store import SessionMeta


def test_a_tool_round_is_one_agent_step_with_calls_and_observation() -> None:
    meta = SessionMeta(session_id="s-1", model="gpt-5.5", provider="openai")
    rows = [
        UserRow(content="weather in Oslo?", created_at="2026-12-05T00:00:00Z"),
        BlockAssistantRow(blocks=[AssistantBlock.tool_use("call_1", "weather", {"city": "Oslo"})],
                          stop_reason="tool_use", usage=Usage(input_tokens=10, output_tokens=3, total_tokens=13)),
        ToolResultsRow(results=[ToolResult(tool_use_id="call_1", content="4C, snow")]),
        ToolResultsRow(results=[ToolResult(tool_use_id="late", content="orphan", is_error=True)]),
        BlockAssistantRow(blocks=[AssistantBlock.text("It is 4C and snowing.")],
                          usage=Usage(input_tokens=20, output_tokens=6, total_tokens=26)),
        SystemNoticeRow(kind="comms", body="peer says hi"),
    ]
    doc = trajectory(meta, rows, agent_version="9.9")
    assert doc["schema_version"] == "ATIF-v1.4" and doc["session_id"] == "s-1"
    assert doc["agent"] == {"name": "mobkat", "version": "9.9", "model_name": "gpt-5.5"}
    steps = doc["steps"]
    assert [(s["step_id"], s["source"]) for s in steps] == [(1, "user"), (2, "agent"), (3, "system"), (4, "agent"),
                                                            (5, "system")]
    assert steps[0] == {"step_id": 1, "timestamp": "2026-12-05T00:00:00Z", "source": "user",
                        "message": "weather in Oslo?"}
    assert steps[1]["tool_calls"] == [{"tool_call_id": "call_1", "function_name": "weather",
                                       "arguments": {"city": "Oslo"}}]
    assert steps[1]["observation"] == {"results": [{"source_call_id": "call_1", "content": "4C, snow"}]}
    assert steps[1]["metrics"] == {"prompt_tokens": 10, "completion_tokens": 3}
    # results with no agent step left to attach to are a system step of their own
    assert steps[2]["observation"] == {"results": [{"source_call_id": "late", "content": "orphan"}]}
    assert steps[3]["message"] == "It is 4C and snowing." and "tool_calls" not in steps[3]
    assert steps[4] == {"step_id": 5, "timestamp": rows[5].created_at, "source": "system",
                        "message": "peer says hi", "extra": {"notice_kind": "comms"}}
    assert doc["final_metrics"] == {"total_prompt_tokens": 30, "total_completion_tokens": 9, "total_steps": 5}
