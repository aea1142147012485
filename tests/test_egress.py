"""What the evaluation model says is redacted before it goes anywhere (DESIGN §9): the analysis model
itself redacts every text it holds, `files_involved` included, so no caller can forget."""

from __future__ import annotations

from graph.state import Analysis

TOKEN = "gh" + "p_" + "a1B2c3D4e5F6g7H8i9J0k1L2m3N4o5P6q7R8"


def _analysis(**overrides: object) -> Analysis:
    fields: dict[str, object] = {
        "facts": [f"the log shows {TOKEN}"],
        "evidence": [f"GITHUB_TOKEN={TOKEN}"],
        "summary": f"rex used {TOKEN}",
        "root_cause": f"token {TOKEN} expired",
        "hypotheses": [f"maybe {TOKEN} was rotated"],
        "category": "authentication",
        "severity": "high",
        "confidence": 0.8,
        "automatable": False,
        "suggested_fix": f"rotate {TOKEN}",
        "files_involved": [f"config/{TOKEN}.json", "cto-config.json"],
    }
    fields.update(overrides)
    return Analysis.model_validate(fields)


def test_every_text_of_an_analysis_is_redacted() -> None:
    analysis = _analysis()
    assert TOKEN not in analysis.model_dump_json()
    assert analysis.files_involved == ["config/[REDACTED:github-token].json", "cto-config.json"]
    assert analysis.evidence == ["GITHUB_TOKEN=[REDACTED:github-token]"]


def test_redaction_is_stable_across_a_checkpoint_round_trip() -> None:
    analysis = _analysis()
    assert Analysis.model_validate(analysis.model_dump()) == analysis


def test_the_schema_the_model_sees_is_unchanged() -> None:
    assert "files_involved" in Analysis.model_json_schema()["properties"]
