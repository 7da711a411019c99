"""Every definition error names file, line and dotted key (and, for misspelt keys, a guess)."""

from __future__ import annotations

from pathlib import Path

import pytest

from mobkat.errors import ConfigError
from mobkat.mob import MobDefinition

GOOD_PROFILE = '[profiles.host]\nmodel = "gpt-5.5"\n'


def line(text: str, needle: str, nth: int = 1) -> int:
    """1-based line of the ``nth`` line containing ``needle``."""
    hits = [n for n, content in enumerate(text.splitlines(), start=1) if needle in content]
    return hits[nth - 1]


def load_error(tmp_path: Path, text: str) -> tuple[ConfigError, str]:
    path = tmp_path / "mob.toml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        MobDefinition.from_toml(path)
    return caught.value, str(path)


def expect(tmp_path: Path, text: str, needle: str, key: str, problem: str, *, nth: int = 1) -> ConfigError:
    """Loading ``text`` fails first at the line holding ``needle``, at ``key``, with ``problem``
    (a prefix of the problem when it ends with ``...``)."""
    exc, path = load_error(tmp_path, text)
    where = f"{path}:{line(text, needle, nth)}: {key}: "
    if problem.endswith("..."):
        assert str(exc).startswith(where + problem[:-3]), str(exc)
    else:
        assert str(exc) == where + problem
    assert (exc.file, exc.key) == (path, key)
    return exc


# --------------------------------------------------------------------------- unknown keys


def test_misspelt_profile_key_suggests_the_right_one(tmp_path: Path) -> None:
    text = 'id = "m"\n\n[profiles.host]\nmodel = "gpt-5.5"\npeer_descripton = "x"\n'
    expect(tmp_path, text, "peer_descripton", "profiles.host.peer_descripton",
           "unknown key 'peer_descripton' (did you mean 'peer_description'?)")


@pytest.mark.parametrize(
    ("text", "needle", "key", "guess"),
    [
        ('id = "m"\n' + GOOD_PROFILE + "[wirring]\nauto_wire_orchestrator = false\n",
         "[wirring]", "wirring", "wiring"),
        ('[mob]\nid = "m"\norchestrater = "host"\n' + GOOD_PROFILE, "orchestrater", "mob.orchestrater",
         "orchestrator"),
        ('id = "m"\n' + GOOD_PROFILE + "[profiles.host.tools]\ncoms = true\n", "coms",
         "profiles.host.tools.coms", "comms"),
        ('id = "m"\n[profiles.host]\nmodel = "gpt-realtime-2"\n[profiles.host.live]\nturning_mod = "x"\n',
         "turning_mod", "profiles.host.live.turning_mod", "turning_mode"),
        ('id = "m"\n' + GOOD_PROFILE + "[profiles.host.restart]\nmax_restart = 1\n", "max_restart",
         "profiles.host.restart.max_restart", "max_restarts"),
        ('id = "m"\n' + GOOD_PROFILE + '[skills.s]\nsource = "inline"\ncontents = "x"\n', "contents",
         "skills.s.contents", "content"),
        ('id = "m"\n' + GOOD_PROFILE + '[[members]]\nname = "a"\nprofile = "host"\ninitial_msg = "x"\n',
         "initial_msg", "members[0].initial_msg", "initial_message"),
        ('id = "m"\n' + GOOD_PROFILE + '[demo]\nmember = "host"\nsays = ["x"]\n', "says", "demo.says", "say"),
        ('id = "m"\n' + GOOD_PROFILE + '[wiring]\nrole_wiring = [{ a = "host", bb = "host" }]\n',
         "role_wiring", "wiring.role_wiring[0].bb", "b"),
    ],
)
def test_unknown_keys_everywhere_name_line_key_and_guess(
    tmp_path: Path, text: str, needle: str, key: str, guess: str
) -> None:
    exc, path = load_error(tmp_path, text)
    assert str(exc).startswith(f"{path}:{line(text, needle)}: {key}: unknown key ")
    assert str(exc).endswith(f"(did you mean {guess!r}?)")


# --------------------------------------------------------------------------- id and orchestrator


def test_a_misspelt_required_key_is_reported_once_with_the_guess(tmp_path: Path) -> None:
    text = 'id = "m"\n[profiles.host]\nmodle = "gpt-5.5"\n'
    exc = expect(tmp_path, text, "modle", "profiles.host.modle", "unknown key 'modle' (did you mean 'model'?)")
    assert exc.details["other_problems"] == []


def test_missing_id_names_the_file_and_both_places(tmp_path: Path) -> None:
    exc, path = load_error(tmp_path, GOOD_PROFILE)
    assert str(exc) == f'{path}: id: required key is missing: set id = "..." at the top of the file or under [mob]'


def test_id_given_twice_is_an_error_at_the_second(tmp_path: Path) -> None:
    text = 'id = "m"\n[mob]\nid = "m"\n' + GOOD_PROFILE
    expect(tmp_path, text, 'id = "m"', "mob.id",
           "the mob id is given twice (top-level id at line 1 and here); keep one", nth=2)


def test_orchestrator_given_twice(tmp_path: Path) -> None:
    text = 'id = "m"\norchestrator = "host"\n[mob]\norchestrator = "host"\n' + GOOD_PROFILE
    expect(tmp_path, text, 'orchestrator = "host"', "mob.orchestrator",
           "the orchestrator is given twice (top level and [mob]); keep one", nth=2)


@pytest.mark.parametrize(
    ("text", "needle", "key"),
    [
        ('[mob]\nid = "m"\norchestrator = "hots"\n' + GOOD_PROFILE, "orchestrator", "mob.orchestrator"),
        ('id = "m"\norchestrator = { profile = "hots" }\n' + GOOD_PROFILE, "orchestrator",
         "orchestrator.profile"),
    ],
)
def test_missing_orchestrator_profile(tmp_path: Path, text: str, needle: str, key: str) -> None:
    expect(tmp_path, text, needle, key, "unknown orchestrator profile 'hots' (did you mean 'host'?)")


def test_orchestrator_of_the_wrong_type(tmp_path: Path) -> None:
    text = 'id = "m"\norchestrator = 3\n' + GOOD_PROFILE
    expect(tmp_path, text, "orchestrator", "orchestrator",
           'expected a profile name or { profile = "..." }, got integer 3')


# --------------------------------------------------------------------------- identifiers


@pytest.mark.parametrize(
    ("text", "needle", "key", "what", "name"),
    [
        ('id = "my mob"\n' + GOOD_PROFILE, "id =", "id", "mob id", "my mob"),
        ('[mob]\nid = "9lives"\n' + GOOD_PROFILE, "9lives", "mob.id", "mob id", "9lives"),
        ('id = "m"\n[profiles."re/search"]\nmodel = "gpt-5.5"\n', "re/search", '"re/search"', "profile name",
         "re/search"),
        ('id = "m"\n' + GOOD_PROFILE + '[[members]]\nname = "a.b"\nprofile = "host"\n', "a.b",
         "members[0].name", "member name", "a.b"),
        ('id = "m"\n' + GOOD_PROFILE + '[skills."x y"]\nsource = "inline"\ncontent = "c"\n', "x y",
         'skills."x y"', "skill name", "x y"),
    ],
)
def test_invalid_identifiers(tmp_path: Path, text: str, needle: str, key: str, what: str, name: str) -> None:
    key = "profiles." + key if what == "profile name" else key
    expect(tmp_path, text, needle, key,
           f"invalid {what} {name!r}: start with a letter or '_', then use only letters, digits, '-' and '_' "
           "(it becomes part of the comms name mob/role/member)")


def test_reserved_flow_prefix(tmp_path: Path) -> None:
    text = 'id = "m"\n[profiles.__flow_x]\nmodel = "gpt-5.5"\n'
    expect(tmp_path, text, "__flow_x", "profiles.__flow_x",
           "invalid profile name '__flow_x': names starting with '__flow_' are reserved for flows")
    text = 'id = "m"\n' + GOOD_PROFILE + '[[members]]\nname = "__flow_1"\nprofile = "host"\n'
    expect(tmp_path, text, "__flow_1", "members[0].name", "invalid member name '__flow_1': ...")


# --------------------------------------------------------------------------- references


def test_empty_profiles(tmp_path: Path) -> None:
    exc, path = load_error(tmp_path, 'id = "m"\n')
    assert str(exc) == f"{path}: profiles: a mob needs at least one profile: add [profiles.<name>] with a model"


def test_missing_skill_reference_points_at_the_array_element(tmp_path: Path) -> None:
    text = ('id = "m"\n[profiles.host]\nmodel = "gpt-5.5"\nskills = [\n  "greet",\n  "gret",\n]\n'
            '[skills.greet]\nsource = "inline"\ncontent = "hi"\n')
    expect(tmp_path, text, '"gret"', "profiles.host.skills[1]", "unknown skill 'gret' (did you mean 'greet'?)")


def test_role_wiring_references(tmp_path: Path) -> None:
    text = 'id = "m"\n' + GOOD_PROFILE + '[[wiring.role_wiring]]\na = "host"\nb = "guest"\n'
    expect(tmp_path, text, "guest", "wiring.role_wiring[0].b", "unknown profile 'guest' (defined: 'host')")


def test_auto_wire_needs_an_orchestrator(tmp_path: Path) -> None:
    text = 'id = "m"\n' + GOOD_PROFILE + "[wiring]\nauto_wire_orchestrator = true\n"
    expect(tmp_path, text, "auto_wire", "wiring.auto_wire_orchestrator",
           'auto_wire_orchestrator = true needs an orchestrator: set orchestrator = "<profile>" '
           "(top level or under [mob])")


def test_member_profile_reference(tmp_path: Path) -> None:
    text = 'id = "m"\n' + GOOD_PROFILE + '[[members]]\nname = "a"\nprofile = "hots"\n'
    expect(tmp_path, text, "hots", "members[0].profile", "unknown profile 'hots' (did you mean 'host'?)")


def test_duplicate_member_names_name_both_lines(tmp_path: Path) -> None:
    text = ('id = "m"\n' + GOOD_PROFILE + '[[members]]\nname = "a"\nprofile = "host"\n\n'
            '[[members]]\nname = "b"\nprofile = "host"\n\n[[members]]\nname = "a"\nprofile = "host"\n')
    first = line(text, 'name = "a"')
    exc = expect(tmp_path, text, 'name = "a"', "members[2].name",
                 f"duplicate member name 'a' (first defined at line {first})", nth=2)
    assert exc.line == first + 8


def test_demo_member_must_exist(tmp_path: Path) -> None:
    text = 'id = "m"\n' + GOOD_PROFILE + '[demo]\nmember = "hots"\nsay = ["hi"]\n'
    expect(tmp_path, text, "hots", "demo.member", "unknown member 'hots' (did you mean 'host'?)")
    path = tmp_path / "typed-demo.toml"
    path.write_text('id = "m"\n' + GOOD_PROFILE + '[demo]\nmember = "host"\nsay = ["hi"]\n')
    assert MobDefinition.from_toml(path).demo is not None  # a text member gets the demo lines typed


# --------------------------------------------------------------------------- models and live


def test_unknown_model(tmp_path: Path) -> None:
    text = 'id = "m"\n[profiles.host]\nmodel = "mystery-9"\n'
    expect(tmp_path, text, "mystery-9", "profiles.host.model",
           "unknown model 'mystery-9': not in the catalog and its provider cannot be inferred from the name; ...")


def test_provider_outside_the_vocabulary(tmp_path: Path) -> None:
    text = 'id = "m"\n' + GOOD_PROFILE + 'provider = "openia"\n'
    expect(tmp_path, text, "openia", "profiles.host.provider",
           "expected one of 'openai', 'anthropic', 'gemini', 'self_hosted' or 'other', got string 'openia'")


def test_provider_contradicting_the_catalog(tmp_path: Path) -> None:
    text = 'id = "m"\n' + GOOD_PROFILE + 'provider = "anthropic"\n'
    expect(tmp_path, text, "anthropic", "profiles.host.provider",
           "model 'gpt-5.5' belongs to provider 'openai' in the catalog, not 'anthropic'; drop the provider "
           "or pass 'openai'")


def test_live_settings_on_a_non_realtime_model(tmp_path: Path) -> None:
    text = 'id = "m"\n' + GOOD_PROFILE + '\n[profiles.host.live]\nvoice = "cedar"\n'
    expect(tmp_path, text, "[profiles.host.live]", "profiles.host.live",
           "model gpt-5.5 is not realtime-capable; remove [profiles.host.live] or use a realtime model such "
           "as gpt-realtime-2")


def test_live_on_a_misspelt_realtime_model_guesses_it(tmp_path: Path) -> None:
    text = 'id = "m"\n[profiles.host]\nmodel = "gpt-realtime2"\nlive = { voice = "marin" }\n'
    exc = expect(tmp_path, text, "live =", "profiles.host.live", "model gpt-realtime2 is not realtime-capable ...")
    assert "did you mean 'gpt-realtime-2'?" in str(exc)


@pytest.mark.parametrize(
    ("body", "needle", "key", "problem"),
    [
        ('runtime_mode = "always"\n', "runtime_mode", "profiles.host.runtime_mode",
         "expected one of 'autonomous_host' or 'turn_driven', got string 'always'"),
        ("external_addressable = 1\n", "external", "profiles.host.external_addressable",
         "expected true or false, got integer 1"),
        ('skills = "a"\n', "skills", "profiles.host.skills", "expected an array, got string 'a'"),
        ('tools.python = ["json.dumps"]\n', "tools.python", "profiles.host.tools.python[0]",
         "expected an import path like \"package.module:function\", got 'json.dumps'"),
        ("restart = { max_restarts = -1 }\n", "restart", "profiles.host.restart.max_restarts",
         "expected greater than or equal to 0, got integer -1"),
        ("restart = { within_s = 0 }\n", "restart", "profiles.host.restart.within_s",
         "expected greater than 0, got integer 0"),
        ('model = ""\n', 'model = ""', "profiles.host.model", "expected a non-empty string"),
    ],
)
def test_mistyped_profile_values(tmp_path: Path, body: str, needle: str, key: str, problem: str) -> None:
    text = 'id = "m"\n[profiles.host]\n' + ('model = "gpt-5.5"\n' if "model" not in body else "") + body
    expect(tmp_path, text, needle, key, problem)


def test_turning_mode_outside_the_vocabulary(tmp_path: Path) -> None:
    text = 'id = "m"\n[profiles.host]\nmodel = "gpt-realtime-2"\n[profiles.host.live]\nturning_mode = "vad"\n'
    expect(tmp_path, text, "turning_mode", "profiles.host.live.turning_mode",
           "expected one of 'provider_managed' or 'explicit_commit', got string 'vad'")


# --------------------------------------------------------------------------- skills


def test_skill_file_must_exist_and_the_resolved_path_is_named(tmp_path: Path) -> None:
    text = 'id = "m"\n' + GOOD_PROFILE + '[skills.s]\nsource = "path"\npath = "skills/missing.md"\n'
    expect(tmp_path, text, "missing.md", "skills.s.path",
           f"skill file {tmp_path / 'skills' / 'missing.md'} does not exist")


@pytest.mark.parametrize(
    ("skill", "needle", "key", "problem"),
    [
        ('source = "inline"\n', "[skills.s]", "skills.s", 'source = "inline" needs content = "..." (the skill text)'),
        ('source = "path"\n', "[skills.s]", "skills.s",
         'source = "path" needs path = "..." (relative to the definition file)'),
        ('source = "inline"\ncontent = "x"\npath = "a.md"\n', "path", "skills.s.path",
         'path is only for source = "path"; inline skills take content'),
        ('source = "file"\n', "source", "skills.s.source", "expected one of 'inline' or 'path', got string 'file'"),
        ('content = "x"\n', "[skills.s]", "skills.s.source", "required key is missing"),
    ],
)
def test_skill_shapes(tmp_path: Path, skill: str, needle: str, key: str, problem: str) -> None:
    text = 'id = "m"\n' + GOOD_PROFILE + "[skills.s]\n" + skill
    expect(tmp_path, text, needle, key, problem)


# --------------------------------------------------------------------------- many problems, JSON form


def test_all_problems_are_reported_in_file_order(tmp_path: Path) -> None:
    text = ('id = "m"\norchestrator = "boss"\n[profiles.host]\nmodel = "gpt-5.5"\nskills = ["nope"]\n'
            '[[members]]\nname = "x"\nprofile = "ghost"\n')
    exc, path = load_error(tmp_path, text)
    assert exc.line == 2 and exc.key == "orchestrator"
    assert exc.details["other_problems"] == [
        f"{path}:5: profiles.host.skills[0]: unknown skill 'nope'",
        f"{path}:8: members[0].profile: unknown profile 'ghost' (did you mean 'host'?)",
    ]


def test_json_form_errors_name_source_and_key_without_line() -> None:
    with pytest.raises(ConfigError) as caught:
        MobDefinition.from_dict({"id": "j", "profiles": {"w": {"model": "gpt-5.5", "live": {}}}})
    assert str(caught.value) == (
        "<json>: profiles.w.live: model gpt-5.5 is not realtime-capable; remove [profiles.w.live] or use a "
        "realtime model such as gpt-realtime-2"
    )
    assert caught.value.line is None
    with pytest.raises(ConfigError, match=r"^mob/create: profiles\.w\.modle: unknown key 'modle' \(did you"):
        MobDefinition.from_dict({"id": "j", "profiles": {"w": {"modle": "gpt-5.5"}}}, source="mob/create")
    with pytest.raises(ConfigError, match=r"^<json>: expected a JSON object, got list$"):
        MobDefinition.from_dict([1, 2])  # type: ignore[arg-type]


def test_unreadable_and_malformed_files(tmp_path: Path) -> None:
    missing = tmp_path / "nope.toml"
    with pytest.raises(ConfigError, match=rf"^{missing}: cannot read the file"):
        MobDefinition.from_toml(missing)
    text = 'id = "m"\n[profiles.host\nmodel = "gpt-5.5"\n'
    exc, path = load_error(tmp_path, text)
    assert str(exc).startswith(f"{path}:2: TOML syntax error")
