"""loader.normalize (phase 6): short syntax -> canonical form, defaults, positions, errors;
and loader.units (durations, byte sizes)."""

from __future__ import annotations

import textwrap

import pytest

from orchestrator.errors import Report
from orchestrator.loader import units
from orchestrator.loader.context import LoadContext, LoadOptions
from orchestrator.loader.normalize import normalize
from orchestrator.loader.parse import parse
from orchestrator.loader.tree import locate, plain


def _normalize(text: str, **options):
    report = Report()
    docs = parse(textwrap.dedent(text), "compose.yaml", report)
    assert report.diagnostics == [], [d.render() for d in report.diagnostics]
    ctx = LoadContext(options=LoadOptions(**options), project_dir="/proj", env={},
                      project_name="demo", report=report)
    before = plain(docs[0])
    out = normalize(docs[0], ctx)
    assert plain(docs[0]) == before, "normalize must not mutate its input"
    return out, [d.render() for d in report.diagnostics]


def _service(text: str, name: str = "web", **options):
    out, diagnostics = _normalize(text, **options)
    return plain(out)["services"][name], diagnostics


# --- top level ----------------------------------------------------------------------------

def test_normalize_top_level_drops_version_and_keeps_extensions():
    out, diags = _normalize("""
        version: "3.8"
        x-common: {a: [1, 2]}
        services:
          web: {image: nginx}
        """)
    assert diags == []
    assert list(out) == ["services", "networks", "x-common"]
    assert plain(out)["x-common"] == {"a": [1, 2]}


def test_normalize_default_network_added_when_used():
    out, _ = _normalize("services:\n  web: {image: nginx}\n")
    assert plain(out)["services"]["web"]["networks"] == {"default": None}
    assert plain(out)["networks"] == {"default": {"name": "demo_default"}}


def test_normalize_default_network_not_added_with_network_mode():
    out, _ = _normalize("services:\n  web: {image: nginx, network_mode: host}\n")
    assert "networks" not in plain(out)["services"]["web"]
    assert "networks" not in plain(out)


def test_normalize_resources_get_project_scoped_names():
    out, diags = _normalize("""
        services:
          web: {image: nginx, networks: [front]}
        networks:
          front:
          named: {name: custom}
          ext: {external: true}
        volumes:
          data: {}
          legacy: {external: {name: real}}
        """)
    result = plain(out)
    assert result["networks"] == {"front": {"name": "demo_front"}, "named": {"name": "custom"},
                                  "ext": {"name": "ext", "external": True}}
    assert result["volumes"] == {"data": {"name": "demo_data"},
                                 "legacy": {"name": "real", "external": True}}
    assert diags == ["compose.yaml:10:22: warning: volumes.legacy.external.name: "
                     "external.name is deprecated; set name and external: true"]


def test_normalize_resource_name_conflicts_with_external_name():
    _, diags = _normalize("volumes:\n  v:\n    name: a\n    external: {name: b}\n")
    assert diags == ["compose.yaml:4:15: volumes.v: name and external.name conflict; only use name"]


def test_normalize_secret_file_resolved_against_declaring_file():
    report = Report()
    tree = parse("secrets:\n  s: {file: ./token}\n", "sub/inc.yaml", report)[0]
    ctx = LoadContext(options=LoadOptions(), project_dir="/proj", env={}, project_name="demo",
                      report=report)
    ctx.base_dirs["sub/inc.yaml"] = "/proj/sub"
    assert plain(normalize(tree, ctx))["secrets"] == {"s": {"name": "demo_s", "file": "/proj/sub/token"}}


# --- services: lists, mappings, strings ------------------------------------------------------

def test_normalize_command_string_split_with_shell_rules():
    web, _ = _service("services:\n  web: {image: x, command: 'sh -c \"echo hi\"', entrypoint: []}\n")
    assert web["command"] == ["sh", "-c", "echo hi"]
    assert web["entrypoint"] == []


def test_normalize_command_unbalanced_quote_reported():
    web, diags = _service("services:\n  web: {image: x, command: 'echo \"hi'}\n")
    assert "command" not in web
    assert diags == ["compose.yaml:2:28: services.web.command: invalid command 'echo \"hi': "
                     "No closing quotation"]


def test_normalize_environment_list_and_scalars_become_strings():
    web, _ = _service("""
        services:
          web:
            image: x
            environment: [A=1, B, C=x=y]
          api:
            image: x
            environment: {N: 1, T: true, F: 1.5, E: null}
        """)
    assert web["environment"] == {"A": "1", "B": None, "C": "x=y"}
    api, _ = _service("services:\n  api: {image: x, environment: {N: 1, T: true, F: 1.5, E: null}}\n",
                      "api")
    assert api["environment"] == {"N": "1", "T": "true", "F": "1.5", "E": None}


def test_normalize_labels_list_split_on_first_equals():
    web, _ = _service("services:\n  web: {image: x, labels: [a=b=c, flag], sysctls: {n: 1}}\n")
    assert web["labels"] == {"a": "b=c", "flag": ""}
    assert web["sysctls"] == {"n": "1"}


def test_normalize_label_file_merged_explicit_labels_win(tmp_path):
    (tmp_path / "web.labels").write_text("# comment\na=from-file\nb=2\n")
    report = Report()
    tree = parse("services:\n  web:\n    image: x\n    label_file: web.labels\n    labels: {a: mine}\n",
                 "compose.yaml", report)[0]
    ctx = LoadContext(options=LoadOptions(), project_dir=str(tmp_path), env={}, project_name="demo",
                      report=report)
    web = plain(normalize(tree, ctx))["services"]["web"]
    assert web["labels"] == {"a": "mine", "b": "2"}
    assert "label_file" not in web


def test_normalize_label_file_missing_reported():
    _, diags = _service("services:\n  web: {image: x, label_file: nope.labels}\n")
    assert diags == ["compose.yaml:2:31: services.web.label_file: label file /proj/nope.labels not found"]


def test_normalize_string_lists_from_single_string():
    web, _ = _service("services:\n  web: {image: x, dns: 8.8.8.8, tmpfs: /run, expose: [80, '90']}\n")
    assert web["dns"] == ["8.8.8.8"]
    assert web["tmpfs"] == ["/run"]
    assert web["expose"] == ["80", "90"]


def test_normalize_extra_hosts_list_to_mapping_ipv6_kept():
    web, _ = _service("services:\n  web: {image: x, extra_hosts: ['a:1.2.3.4', 'b=::1', 'c:::1', 'd=[fe80::1]']}\n")
    assert web["extra_hosts"] == {"a": "1.2.3.4", "b": "::1", "c": "::1", "d": "fe80::1"}


def test_normalize_env_file_entries_made_absolute():
    web, _ = _service("""
        services:
          web:
            image: x
            env_file: [.env, {path: /etc/app.env, required: false, format: raw}]
        """)
    assert web["env_file"] == [{"path": "/proj/.env", "required": True},
                               {"path": "/etc/app.env", "required": False, "format": "raw"}]


def test_normalize_paths_kept_relative_when_resolve_paths_off():
    web, _ = _service("services:\n  web: {build: ./app, env_file: .env, volumes: ['./d:/d']}\n",
                      resolve_paths=False)
    assert web["build"] == {"context": "./app", "dockerfile": "Dockerfile"}
    assert web["env_file"] == [{"path": ".env", "required": True}]
    assert web["volumes"][0]["source"] == "./d"


def test_normalize_depends_on_list_gets_defaults():
    web, _ = _service("""
        services:
          web:
            image: x
            depends_on: [db]
          api:
            image: x
            depends_on: {db: {condition: service_healthy}}
        """)
    assert web["depends_on"] == {"db": {"condition": "service_started", "required": True, "restart": False}}


def test_normalize_depends_on_mapping_keeps_condition():
    api, _ = _service("services:\n  api: {image: x, depends_on: {db: {condition: service_healthy}}}\n", "api")
    assert api["depends_on"]["db"] == {"condition": "service_healthy", "required": True, "restart": False}


def test_normalize_service_networks_list_becomes_mapping():
    web, _ = _service("services:\n  web: {image: x, networks: [a, b]}\nnetworks: {a: {}, b: {}}\n")
    assert web["networks"] == {"a": None, "b": None}


def test_normalize_secrets_short_form_becomes_source():
    web, _ = _service("services:\n  web: {image: x, secrets: [s, {source: t, target: /t, mode: 0440}]}\n")
    assert web["secrets"] == [{"source": "s"}, {"source": "t", "target": "/t", "mode": 0o440}]


def test_normalize_devices_split_into_fields():
    web, _ = _service("services:\n  web: {image: x, devices: ['/dev/a:/dev/b:r', /dev/c]}\n")
    assert web["devices"] == [{"source": "/dev/a", "target": "/dev/b", "permissions": "r"},
                              {"source": "/dev/c", "target": "/dev/c", "permissions": "rwm"}]


def test_normalize_ulimits_single_number_sets_soft_and_hard():
    web, _ = _service("services:\n  web: {image: x, ulimits: {nproc: 65535, nofile: {soft: 1, hard: 2}}}\n")
    assert web["ulimits"] == {"nproc": {"soft": 65535, "hard": 65535}, "nofile": {"soft": 1, "hard": 2}}


def test_normalize_ulimit_soft_above_hard_reported():
    web, diags = _service("services:\n  web:\n    image: x\n    ulimits:\n      nofile: {soft: 9, hard: 2}\n")
    assert "ulimits" not in web or "nofile" not in web["ulimits"]
    assert diags == ["compose.yaml:5:15: services.web.ulimits.nofile: "
                     "ulimit soft limit must be less than or equal to hard limit: 9 > 2"]


# --- ports --------------------------------------------------------------------------------

def test_normalize_ports_short_syntax_expanded():
    web, diags = _service("""
        services:
          web:
            image: x
            ports: ["8080:80", "127.0.0.1::53/udp", 9000, "[::1]:443:443"]
        """)
    assert diags == []
    assert web["ports"] == [
        {"mode": "ingress", "target": 80, "published": "8080", "protocol": "tcp"},
        {"mode": "ingress", "host_ip": "127.0.0.1", "target": 53, "protocol": "udp"},
        {"mode": "ingress", "target": 9000, "protocol": "tcp"},
        {"mode": "ingress", "host_ip": "::1", "target": 443, "published": "443", "protocol": "tcp"},
    ]


def test_normalize_ports_range_one_entry_per_port():
    web, _ = _service("services:\n  web: {image: x, ports: ['8000-8002:80-82']}\n")
    assert [(p["published"], p["target"]) for p in web["ports"]] == [("8000", 80), ("8001", 81), ("8002", 82)]


def test_normalize_ports_long_syntax_gets_defaults():
    web, _ = _service("services:\n  web: {image: x, ports: [{target: 80, published: 8080}]}\n")
    assert web["ports"] == [{"target": 80, "published": "8080", "mode": "ingress", "protocol": "tcp"}]


@pytest.mark.parametrize("spec, reason", [
    ("abc:80", "invalid hostPort: abc"),
    ("80:abc", "invalid containerPort: abc"),
    ("8000-8002:80-81", "invalid ranges specified for container and host Ports: 80-81 and 8000-8002"),
    ("80/xyz", "invalid proto: xyz"),
    ("nothere:80:80", "invalid IP address: nothere"),
])
def test_normalize_ports_invalid_reported_and_skipped(spec, reason):
    web, diags = _service(f"services:\n  web:\n    image: x\n    ports:\n      - '{spec}'\n      - 81\n")
    assert web["ports"] == [{"mode": "ingress", "target": 81, "protocol": "tcp"}]
    assert diags == [f"compose.yaml:5:9: services.web.ports[0]: invalid port '{spec}': {reason}"]


def test_normalize_ports_expanded_entries_keep_written_position():
    out, _ = _normalize("services:\n  web:\n    image: x\n    ports:\n      - 8000-8001:80-81\n")
    assert str(locate(out, ("services", "web", "ports", 1))) == "compose.yaml:5:9"
    assert str(locate(out, ("services", "web", "ports", 1, "target"))) == "compose.yaml:5:9"


# --- volumes ------------------------------------------------------------------------------

def test_normalize_volumes_short_syntax():
    web, diags = _service("""
        services:
          web:
            image: x
            volumes: ["./html:/usr/share/html:ro,z", "data:/data:nocopy", /anon, "~/c:/c:rshared"]
        volumes: {data: {}}
        """, environ={"HOME": "/home/me"})
    assert diags == []
    assert web["volumes"] == [
        {"type": "bind", "source": "/proj/html", "target": "/usr/share/html", "read_only": True,
         "bind": {"create_host_path": True, "selinux": "z"}},
        {"type": "volume", "source": "data", "target": "/data", "volume": {"nocopy": True}},
        {"type": "volume", "target": "/anon"},
        {"type": "bind", "source": "/home/me/c", "target": "/c",
         "bind": {"create_host_path": True, "propagation": "rshared"}},
    ]


def test_normalize_volumes_long_syntax_sizes_and_bind_paths():
    web, _ = _service("""
        services:
          web:
            image: x
            volumes:
              - {type: tmpfs, target: /t, tmpfs: {size: 64m, mode: 0o1777}}
              - {type: bind, source: ./src, target: /src}
        """)
    assert web["volumes"] == [{"type": "tmpfs", "target": "/t", "tmpfs": {"size": 64 * 1024**2, "mode": 0o1777}},
                              {"type": "bind", "source": "/proj/src", "target": "/src"}]


@pytest.mark.parametrize("spec, reason", [("a:b:c:d", "too many colons"),
                                          ("a::/b", "empty section between colons")])
def test_normalize_volumes_invalid_spec_reported(spec, reason):
    web, diags = _service(f"services:\n  web:\n    image: x\n    volumes: ['{spec}']\n")
    assert web["volumes"] == []
    assert diags == [f"compose.yaml:4:15: services.web.volumes[0]: invalid volume spec '{spec}': {reason}"]


def test_normalize_volumes_unknown_mode_warned():
    web, diags = _service("services:\n  web: {image: x, volumes: ['./a:/a:U']}\n")
    assert web["volumes"][0]["target"] == "/a"
    assert diags == ["compose.yaml:2:29: warning: services.web.volumes[0]: unknown volume mode 'U' ignored"]


def test_normalize_volume_entry_positioned_at_short_syntax():
    out, _ = _normalize("services:\n  web:\n    image: x\n    volumes:\n      - ./a:/a\n")
    assert str(locate(out, ("services", "web", "volumes", 0, "bind"))) == "compose.yaml:5:9"


# --- build, healthcheck, sizes, durations -----------------------------------------------------

def test_normalize_build_string_becomes_context_mapping():
    web, _ = _service("services:\n  web: {build: ./app}\n")
    assert web["build"] == {"context": "/proj/app", "dockerfile": "Dockerfile"}


def test_normalize_build_url_context_kept_and_args_mapping():
    web, _ = _service("services:\n  web:\n    build:\n      context: https://github.com/a/b.git\n"
                      "      args: [V=1, FROM_ENV]\n      shm_size: 1g\n")
    assert web["build"] == {"context": "https://github.com/a/b.git", "args": {"V": "1", "FROM_ENV": None},
                            "shm_size": 1024**3, "dockerfile": "Dockerfile"}


def test_normalize_build_inline_dockerfile_no_default_dockerfile():
    web, _ = _service("services:\n  web:\n    build: {dockerfile_inline: 'FROM x'}\n")
    assert web["build"] == {"dockerfile_inline": "FROM x", "context": "."}


def test_normalize_healthcheck_string_test_and_durations():
    web, _ = _service("""
        services:
          web:
            image: x
            healthcheck: {test: curl -f localhost, interval: 90s, timeout: 1.5s, start_period: 0s, retries: 3}
        """)
    assert web["healthcheck"] == {"test": ["CMD-SHELL", "curl -f localhost"], "interval": "1m30s",
                                  "timeout": "1.5s", "start_period": "0s", "retries": 3}


def test_normalize_healthcheck_none_kept():
    web, _ = _service("services:\n  web: {image: x, healthcheck: {test: [NONE]}}\n")
    assert web["healthcheck"] == {"test": ["NONE"]}


def test_normalize_byte_sizes_become_ints():
    web, _ = _service("""
        services:
          web:
            image: x
            mem_limit: 1gb
            mem_reservation: 512m
            shm_size: 1024
            memswap_limit: -1
            deploy: {resources: {limits: {memory: 1.5g, cpus: "0.5"}}}
        """)
    assert (web["mem_limit"], web["mem_reservation"], web["shm_size"], web["memswap_limit"]) == \
        (1024**3, 512 * 1024**2, 1024, -1)
    assert web["deploy"]["resources"]["limits"] == {"memory": 1536 * 1024**2, "cpus": 0.5}


def test_normalize_bad_byte_size_reported_at_value():
    web, diags = _service("services:\n  web:\n    image: x\n    mem_limit: 12zz\n")
    assert "mem_limit" not in web
    assert diags == ["compose.yaml:4:16: services.web.mem_limit: invalid size: '12zz' "
                     "(expected a number with an optional unit b, k, m, g or t, e.g. 512m)"]


def test_normalize_bad_duration_reported_at_value():
    web, diags = _service("services:\n  web:\n    image: x\n    stop_grace_period: 10 sec\n")
    assert "stop_grace_period" not in web
    assert diags == ["compose.yaml:4:24: services.web.stop_grace_period: invalid duration '10 sec': "
                     "unknown unit ' sec' (use ns, us, ms, s, m or h)"]


def test_normalize_stop_grace_period_number_is_seconds():
    web, _ = _service("services:\n  web: {image: x, stop_grace_period: 90}\n")
    assert web["stop_grace_period"] == "1m30s"


def test_normalize_cpus_become_float():
    web, _ = _service("services:\n  web: {image: x, cpus: '1.5'}\n")
    assert web["cpus"] == 1.5


def test_normalize_scale_copied_to_deploy_replicas():
    web, _ = _service("services:\n  web: {image: x, scale: 3, deploy: {mode: replicated}}\n")
    assert web["scale"] == 3
    assert web["deploy"] == {"mode": "replicated", "replicas": 3}


def test_normalize_unknown_and_extension_keys_kept():
    web, _ = _service("services:\n  web: {image: x, init: true, x-meta: {a: [b]}, some_new_key: {k: 1}}\n")
    assert web["x-meta"] == {"a": ["b"]}
    assert web["some_new_key"] == {"k": 1}
    assert web["init"] is True


def test_normalize_expanded_environment_keeps_item_positions():
    out, _ = _normalize("services:\n  web:\n    image: x\n    environment:\n      - A=1\n      - B\n")
    assert str(locate(out, ("services", "web", "environment", "B"), key=True)) == "compose.yaml:6:9"


# --- units --------------------------------------------------------------------------------

@pytest.mark.parametrize("text, nanoseconds", [
    ("1h2m3s", 3723 * units.SECOND), ("1.5s", 1500 * units.MILLISECOND), ("500ms", 500 * units.MILLISECOND),
    ("10us", 10 * units.MICROSECOND), ("10µs", 10 * units.MICROSECOND), ("0", 0), ("-2s", -2 * units.SECOND),
    (30, 30 * units.SECOND), (0.5, 500 * units.MILLISECOND),
])
def test_units_parse_duration_go_syntax(text, nanoseconds):
    assert units.parse_duration(text) == nanoseconds


@pytest.mark.parametrize("text", ["", "10", "1x", "s", "1..5s", "abc", "1h 2m"])
def test_units_parse_duration_invalid_raises(text):
    with pytest.raises(ValueError):
        units.parse_duration(text)


@pytest.mark.parametrize("nanoseconds, text", [
    (0, "0s"), (90 * units.SECOND, "1m30s"), (units.HOUR, "1h0m0s"), (1500 * units.MILLISECOND, "1.5s"),
    (500 * units.MILLISECOND, "500ms"), (10 * units.MICROSECOND, "10µs"), (7, "7ns"),
    (3723 * units.SECOND + 250 * units.MILLISECOND, "1h2m3.25s"),
])
def test_units_format_duration_like_go(nanoseconds, text):
    assert units.format_duration(nanoseconds) == text


@pytest.mark.parametrize("text, size", [
    ("1gb", 1024**3), ("512m", 512 * 1024**2), ("1.5g", 1536 * 1024**2), ("100", 100), ("2KiB", 2048),
    ("1 MB", 1024**2), ("3b", 3), ("1t", 1024**4), (1024, 1024), ("-1", -1),
])
def test_units_parse_bytes_binary_units(text, size):
    assert units.parse_bytes(text) == size


@pytest.mark.parametrize("text", ["12zz", "", "g", "1.2.3m", True, "-5m"])
def test_units_parse_bytes_invalid_raises(text):
    with pytest.raises(ValueError):
        units.parse_bytes(text)
