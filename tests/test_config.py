from pathlib import Path

import pytest

from techscreen.config import ConfigError, check_writable, load_settings
from techscreen.embed.models import model_folders

ROOT = Path(__file__).resolve().parents[1]


def _conf(tmp_path: Path, files: dict[str, str]) -> Path:
    for rel, text in files.items():
        path = tmp_path / "conf" / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return tmp_path / "conf"


def test_project_conf_loads_with_six_domains_and_cluster_env():
    base = load_settings(ROOT / "conf")
    assert base.spark.master == "local[*]"
    assert len(base.domains.definitions) == 6
    cluster = load_settings(ROOT / "conf", env="cluster")
    assert cluster.spark.master.startswith("spark://")
    assert cluster.spark.driver_memory != base.spark.driver_memory


def test_layers_apply_in_order_base_env_local_then_set(tmp_path):
    conf = _conf(
        tmp_path,
        {
            "base/a.yaml": "spark: {shuffle_partitions: 3, driver_memory: 1g}\n"
            "paths: {workspace: ws}\n",
            "prod/a.yaml": "spark: {shuffle_partitions: 5}\n",
            "local/a.yaml": "spark: {driver_memory: 9g}\n",
        },
    )
    s = load_settings(conf, env="prod", overrides=["paths.workspace=other"])
    assert s.spark.shuffle_partitions == 5  # env over base
    assert s.spark.driver_memory == "9g"  # local over base
    assert s.paths.workspace == "other"  # --set over all
    assert s.spark.master == "local[*]"  # untouched default


def test_unknown_key_names_file_and_key(tmp_path):
    conf = _conf(tmp_path, {"base/a.yaml": "spark: {shufle_partitions: 3}\n"})
    with pytest.raises(ConfigError) as err:
        load_settings(conf)
    assert "a.yaml" in str(err.value) and "spark.shufle_partitions" in str(err.value)


def test_wrong_type_names_the_layer_that_set_it(tmp_path):
    conf = _conf(
        tmp_path,
        {
            "base/a.yaml": "spark: {shuffle_partitions: 3}\n",
            "local/z.yaml": "spark: {shuffle_partitions: many}\n",
        },
    )
    with pytest.raises(ConfigError) as err:
        load_settings(conf)
    assert "local/z.yaml" in str(err.value) and "shuffle_partitions" in str(err.value)


def test_bad_override_and_missing_env(tmp_path):
    conf = _conf(tmp_path, {"base/a.yaml": "{}\n"})
    with pytest.raises(ConfigError, match=r"--set spark\.ui"):
        load_settings(conf, overrides=["spark.ui=[1, 2]"])
    with pytest.raises(ConfigError, match=r"key\.path=value"):
        load_settings(conf, overrides=["nonsense"])
    with pytest.raises(ConfigError, match="no such configuration environment"):
        load_settings(conf, env="nope")


def test_mapping_with_unknown_canonical_field_is_rejected(tmp_path):
    conf = _conf(
        tmp_path,
        {
            "base/m.yaml": "ingest:\n  mapped:\n    x:\n      match: ['*.csv']\n"
            "      file_type: csv\n      columns: {publication_number: id, abstrakt: text}\n"
        },
    )
    with pytest.raises(ConfigError, match="abstrakt"):
        load_settings(conf)


def _writes(settings, *kinds: str) -> None:
    """What a run that builds embedders ``kinds`` checks before it starts."""
    check_writable(settings, model_folders(settings.embed, kinds))


def test_a_model_path_outside_the_workspace_and_writable_folders_is_refused(tmp_path):
    conf = ROOT / "conf"
    outside = load_settings(conf, None, ["embed.static.path=/etc/techscreen-model"])
    with pytest.raises(ConfigError, match=r"^embed.static.path: /etc/techscreen-model is outside"):
        _writes(outside, "static")
    _writes(outside, "minilm-int8")  # a run that does not build the static model may run
    climbing = load_settings(conf, None, ["embed.int8.path=models/../../elsewhere"])
    with pytest.raises(ConfigError, match=r"embed\.int8\.path"):  # `..` cannot climb out
        _writes(climbing, "minilm-int8")
    inside = load_settings(
        conf, None, [f"paths.workspace={tmp_path}", f"embed.int8.path={tmp_path}/m"]
    )
    _writes(inside, "minilm-int8")


def test_plus_equals_extends_a_list_setting_where_equals_replaces_it(tmp_path):
    conf = ROOT / "conf"
    replaced = load_settings(conf, None, ["paths.writable=[/srv/models]"])
    assert replaced.paths.writable == ["/srv/models"]
    # the trap of issue 19: models/ is no longer allowed; the error says how to extend
    with pytest.raises(ConfigError, match=r"embed.int8.path: .*--set paths.writable\+=\["):
        _writes(replaced, "minilm-int8")
    extended = load_settings(
        conf, None, ["paths.writable+=[/srv/models]", "embed.static.path=/srv/models/s"]
    )
    assert extended.paths.writable == ["models", "/srv/models"]
    _writes(extended, "static", "minilm-int8", "lexical-zh")
    # one bare item; a key no layer sets extends its default
    bare = _conf(tmp_path, {"base/a.yaml": "{}\n"})
    assert load_settings(bare, None, ["paths.writable+=/x"]).paths.writable == ["models", "/x"]
    with pytest.raises(ConfigError, match=r"spark\.master is not a list"):
        load_settings(conf, None, ["spark.master+=[x]"])


def test_a_command_checks_only_the_model_folders_it_writes(tmp_path, capsys):
    from techscreen.cli import main

    ws = ["--conf-dir", str(ROOT / "conf"), "--set", f"paths.workspace={tmp_path / 'ws'}"]
    elsewhere = ["--set", f"paths.writable=[{tmp_path / 'elsewhere'}]"]
    assert main(["models", "build-static", *ws, *elsewhere]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("techscreen: error: embed.static.path: ")
    assert "--set paths.writable+=[" in err[0]
    # config show writes nothing, so nothing is checked
    assert main(["config", "show", *ws, *elsewhere]) == 0
