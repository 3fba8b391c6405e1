"""loader.check (phase 7): semantic checks on the canonical form, with Compose's wording and
the position where the offending value was written."""

from __future__ import annotations

import textwrap

from orchestrator.errors import Report, Severity
from orchestrator.loader.check import check
from orchestrator.loader.context import LoadContext, LoadOptions
from orchestrator.loader.normalize import normalize
from orchestrator.loader.parse import parse


def _check(text: str) -> list[str]:
    """Rendered diagnostics of normalize + check (normalize must be clean)."""
    report = Report()
    tree = parse(textwrap.dedent(text), "compose.yaml", report)[0]
    ctx = LoadContext(options=LoadOptions(), project_dir="/proj", env={}, project_name="demo",
                      report=report)
    canonical = normalize(tree, ctx)
    assert [d for d in report.diagnostics if d.severity is Severity.ERROR] == []
    check(canonical, ctx)
    return [d.render() for d in report.diagnostics]


def test_check_valid_stack_has_no_diagnostics():
    assert _check("""
        services:
          web:
            image: nginx
            ports: ["8080:80"]
            depends_on: {db: {condition: service_healthy}}
            volumes: [data:/data, ./html:/html]
            secrets: [token]
            networks: [back]
            links: [db:database]
            volumes_from: [db, "container:other:ro"]
          db:
            build: ./db
            network_mode: service:cache
          cache:
            image: redis
            container_name: cache
        networks: {back: {}}
        volumes: {data: {}}
        secrets: {token: {file: ./token}}
        """) == []


def test_check_service_without_image_or_build():
    assert _check("services:\n  web:\n    restart: always\n") == [
        'compose.yaml:2:3: services.web: service "web" has neither an image nor a build context specified']


def test_check_network_mode_and_networks_exclusive():
    assert _check("""
        services:
          redis:
            image: redis
            network_mode: host
            networks: [front]
        networks: {front: {}}
        """) == ["compose.yaml:6:5: services.redis.networks: "
                 "service redis declares mutually exclusive `network_mode` and `networks`"]


def test_check_network_mode_service_undefined():
    assert _check("services:\n  web:\n    image: x\n    network_mode: service:vpn\n") == [
        "compose.yaml:4:19: services.web.network_mode: service \"vpn\" not found for network_mode 'service:vpn'"]


def test_check_undefined_network_volume_secret_config():
    assert _check("""
        services:
          web:
            image: x
            networks: [missing]
            volumes: ["data:/data"]
            secrets: [s]
            configs: [c]
            build: {context: ., secrets: [bs]}
        """) == [
        'compose.yaml:5:16: services.web.networks.missing: service "web" refers to undefined network missing',
        'compose.yaml:6:15: services.web.volumes[0]: service "web" refers to undefined volume data',
        'compose.yaml:7:15: services.web.secrets[0]: service "web" refers to undefined secret s',
        'compose.yaml:8:15: services.web.configs[0]: service "web" refers to undefined config c',
        'compose.yaml:9:35: services.web.build.secrets[0]: service "web" refers to undefined build secret bs',
    ]


def test_check_depends_on_undefined_is_error():
    assert _check("services:\n  web:\n    image: x\n    depends_on: [db]\n") == [
        'compose.yaml:4:18: services.web.depends_on.db: service "web" depends on undefined service "db"']


def test_check_depends_on_undefined_not_required_is_warning():
    assert _check("services:\n  web:\n    image: x\n    depends_on:\n      db: {required: false}\n") == [
        'compose.yaml:5:7: warning: services.web.depends_on.db: service "web" depends on undefined '
        'service "db" (ignored: the dependency is not required)']


def test_check_links_and_volumes_from_undefined():
    diags = _check("""
        services:
          web:
            image: x
            links: ["db:database"]
            volumes_from: [store, "container:ok"]
        """)
    assert diags == [
        'compose.yaml:5:13: services.web.links[0]: service "web" links to undefined service "db"',
        'compose.yaml:6:20: services.web.volumes_from[0]: service "web" mounts volumes from undefined '
        'service "store" (write container:store for a container that is not a service)',
    ]


def test_check_container_name_with_replicas():
    assert _check("services:\n  web:\n    image: x\n    container_name: app\n    deploy: {replicas: 2}\n") == [
        "compose.yaml:4:21: services.web: can't set container_name and deploy.replicas "
        "as container name must be unique"]


def test_check_container_name_used_twice():
    assert _check("""
        services:
          a: {image: x, container_name: app}
          b: {image: x, container_name: app}
        """) == ['compose.yaml:4:33: services.b.container_name: container name "app" is already in use by service a']


def test_check_published_port_used_twice_is_warning():
    assert _check("""
        services:
          a: {image: x, ports: ["8080:80"]}
          b: {image: x, ports: ["8080:81", "127.0.0.1:8080:80", "8080:80/udp"]}
        """) == ["compose.yaml:4:25: warning: services.b.ports[0]: published port 8080/tcp is already "
                 "used by services.a.ports[0]"]


def test_check_published_port_disjoint_profiles_allowed():
    assert _check("""
        services:
          a: {image: x, ports: ["80:80"], profiles: [dev]}
          b: {image: x, ports: ["80:80"], profiles: [prod]}
        """) == []


def test_check_dependency_cycle_reports_path_and_edges():
    diags = _check("""
        services:
          a: {image: x, depends_on: [b]}
          b: {image: x, links: [c]}
          c: {image: x, network_mode: "service:a"}
        """)
    assert diags == [
        "compose.yaml:3:30: services.a.depends_on.b: dependency cycle detected: a -> b -> c -> a "
        "(a -> b: depends_on at compose.yaml:3:30; b -> c: links at compose.yaml:4:25; "
        "c -> a: network_mode at compose.yaml:5:31)"]


def test_check_dependency_cycle_self():
    diags = _check("services:\n  s1:\n    image: x\n    depends_on: [s1]\n")
    assert diags[0].startswith("compose.yaml:4:18: services.s1.depends_on.s1: dependency cycle detected: s1 -> s1")


def test_check_dependency_cycle_via_volumes_from_reported_once():
    diags = _check("""
        services:
          a: {image: x, volumes_from: [b]}
          b: {image: x, volumes_from: ["a:ro"]}
        """)
    assert len(diags) == 1
    assert "dependency cycle detected: a -> b -> a" in diags[0]


def test_check_negative_scale_and_replicas():
    assert _check("services:\n  web: {image: x, scale: -1}\n  api: {image: x, deploy: {replicas: -2}}\n") == [
        "compose.yaml:2:26: services.web.scale: must be greater than or equal to 0",
        "compose.yaml:3:38: services.api.deploy.replicas: must be greater than or equal to 0",
    ]


def test_check_scale_and_replicas_disagree():
    assert _check("services:\n  web: {image: x, scale: 2, deploy: {replicas: 3}}\n") == [
        "compose.yaml:2:48: services.web: can't set distinct values on 'scale' and 'deploy.replicas'"]


def test_check_secret_needs_file_or_environment():
    assert _check("""
        secrets:
          foo: {labels: {a: b}}
          ok: {environment: TOKEN}
          ext: {external: true}
          both: {file: ./x, environment: Y}
        configs:
          test: {labels: {a: b}}
          inline: {content: hello}
        """) == [
        'compose.yaml:3:8: secrets.foo: secret "foo" must declare either `file` or `environment`',
        "compose.yaml:6:21: secrets.both: file|environment attributes are mutually exclusive",
        "compose.yaml:8:9: configs.test: one of file|environment|content must be set",
    ]


def test_check_external_volume_with_driver_conflicts():
    assert _check("volumes:\n  external_volume:\n    external: true\n    driver: local\n") == [
        'compose.yaml:4:5: volumes.external_volume: conflicting parameters "external" and "driver" specified']


def test_check_external_network_with_driver_is_warning():
    assert _check("networks:\n  n:\n    external: true\n    driver: bridge\n    internal: true\n") == [
        'compose.yaml:4:5: warning: networks.n: conflicting parameters "external" and "driver" specified']


def test_check_mount_target_conflict_names_first_mount():
    assert _check("""
        services:
          myservice:
            image: x
            tmpfs: [/a, /conflict]
            volumes: [/b, "./x:/conflict"]
        """) == ["compose.yaml:6:19: services.myservice.volumes[1]: "
                 "target /conflict already mounted as services.myservice.tmpfs[1]"]


def test_check_bind_mount_without_source():
    assert _check("services:\n  web:\n    image: x\n    volumes:\n      - {type: bind, target: /a}\n") == [
        'compose.yaml:5:9: services.web.volumes[0]: invalid mount config for type "bind": '
        "field Source must not be empty"]


def test_check_device_request_count_and_ids_exclusive():
    diags = _check("""
        services:
          web:
            image: x
            deploy:
              resources:
                reservations:
                  devices:
                    - {capabilities: [gpu], count: 1, device_ids: ["0"]}
        """)
    assert diags == ['compose.yaml:9:15: services.web.deploy.resources.reservations.devices[0]: '
                     '"count" and "device_ids" attributes are exclusive']


def test_check_environment_key_with_trailing_space():
    assert _check("services:\n  test:\n    image: x\n    environment:\n      - DEBUG = true\n") == [
        "compose.yaml:5:9: services.test.environment: environment variable DEBUG  is declared with a trailing space"]


def test_check_healthcheck_test_must_start_with_known_word():
    assert _check("services:\n  web:\n    image: x\n    healthcheck: {test: [curl, x]}\n") == [
        'compose.yaml:4:25: services.web.healthcheck.test: healthcheck.test must start either by '
        '"CMD", "CMD-SHELL" or "NONE"']
