"""Hub settings: the YAML file and MCHUB_* variables, with errors that name the setting and the
choices; Magic Castle's DNS module per cloud, its credentials taken from the hub's environment only."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from reconciler.engine.render import module_digest
from reconciler.model.limits import DEFAULT_LIMITS, Limits
from reconciler.model.settings import CloudConfig, DnsConfig, Settings, SettingsError, load_settings

TEMPLATES = Settings().templates_dir


def settings_with(tmp_path: Path, cloud: dict[str, Any]) -> Settings:
    path = tmp_path / "settings.yaml"
    path.write_text(yaml.safe_dump({"default_cloud": "arbutus", "clouds": {"arbutus": cloud}}))
    return load_settings(path, environ={})


def test_defaults_are_the_sandbox_with_the_bundled_module() -> None:
    settings = load_settings(None, environ={})
    cloud = settings.cloud(None)
    assert (cloud.name, cloud.module, cloud.dns) == ("sandbox", "bundled", None)


@pytest.mark.parametrize(
    ("dns", "expected"),
    [
        ({"provider": "cloudflare"}, DnsConfig("cloudflare")),
        ("cloudflare", DnsConfig("cloudflare")),
        ({"provider": "gcloud", "project": "p-1", "zone_name": "z"}, DnsConfig("gcloud", "p-1", "z")),
        (None, None),
    ],
)
def test_dns_setting_parses(tmp_path: Path, dns: Any, expected: DnsConfig | None) -> None:
    settings = settings_with(tmp_path, {"module": "magic_castle:15.6.1", "dns": dns})
    assert settings.cloud("arbutus").dns == expected


@pytest.mark.parametrize(
    ("cloud", "message"),
    [
        (
            {"module": "magic_castle:15.6.1", "dns": {"provider": "route53"}},
            "clouds.arbutus.dns.provider: 'route53' is not a DNS provider; choose one of cloudflare, gcloud",
        ),
        (
            {"module": "magic_castle:15.6.1", "dns": {"provider": "gcloud", "project": "p"}},
            "clouds.arbutus.dns.zone_name: required for the gcloud DNS provider",
        ),
        (
            {"module": "magic_castle:15.6.1", "dns": {"provider": "cloudflare", "zone_name": "z"}},
            "clouds.arbutus.dns.zone_name: only the gcloud DNS provider takes zone_name",
        ),
        (
            {"module": "magic_castle:15.6.1", "dns": {"provider": "cloudflare", "token": "x"}},
            "clouds.arbutus.dns: unknown setting token; choose among ['project', 'provider', 'zone_name']",
        ),
        (
            {"module": "magic_castle:15.6.1", "dns": ["cloudflare"]},
            "clouds.arbutus.dns: expected a provider name or a mapping with provider",
        ),
        (
            {"dns": "cloudflare"},
            "clouds.arbutus.dns: Magic Castle's DNS module needs module: magic_castle:<version>",
        ),
        (
            {"module": "./my-module", "dns": "cloudflare"},
            "Magic Castle's DNS module needs module: magic_castle:<version> (this cloud uses './my-module')",
        ),
        ({"module": "magic_castle:"}, "clouds.arbutus.module: name a Magic Castle release"),
        (
            {"module": "magic_castle:15.6.1", "config_git_url": "git@github.com:me/puppet.git"},
            "clouds.arbutus.config_git_url: 'git@github.com:me/puppet.git' must match ^https://.*\\.git$",
        ),
        ({"module": "magic_castle:15.6.1", "config_version": ""}, "clouds.arbutus.config_version: a tag"),
        ({"domains": "example.org"}, "clouds.arbutus.domains: expected a list of domain names"),
        ({"module": 15}, "clouds.arbutus.module: expected a string, got 15"),
        ({"external_network": ["a"]}, "clouds.arbutus.external_network: expected a string"),
    ],
)
def test_bad_dns_settings_say_what_to_write(tmp_path: Path, cloud: dict[str, Any], message: str) -> None:
    with pytest.raises(SettingsError) as err:
        settings_with(tmp_path, cloud)
    assert message in str(err.value)


ENV = {
    "PATH": "/usr/bin",
    "CLOUDFLARE_API_TOKEN": "cf-token",
    "CLOUDFLARE_EMAIL": "ops@example.org",
    "GOOGLE_APPLICATION_CREDENTIALS": "/run/secrets/gcp.json",
    "OS_PASSWORD": "not-for-dns",
    "AWS_SECRET_ACCESS_KEY": "unrelated",
}


def test_passthrough_takes_only_the_providers_variables() -> None:
    cloudflare = CloudConfig("c", module="magic_castle:15.6.1", dns=DnsConfig("cloudflare"))
    assert cloudflare.passthrough_env(ENV) == {
        "CLOUDFLARE_API_TOKEN": "cf-token",
        "CLOUDFLARE_EMAIL": "ops@example.org",
    }
    gcloud = CloudConfig("g", module="magic_castle:15.6.1", dns=DnsConfig("gcloud", "p", "z"))
    assert gcloud.passthrough_env(ENV) == {"GOOGLE_APPLICATION_CREDENTIALS": "/run/secrets/gcp.json"}
    assert CloudConfig("sandbox").passthrough_env(ENV) == {}


def test_passthrough_accepts_cloudflare_email_and_key() -> None:
    cloud = CloudConfig("c", module="magic_castle:15.6.1", dns=DnsConfig("cloudflare"))
    env = {"CLOUDFLARE_EMAIL": "ops@example.org", "CLOUDFLARE_API_KEY": "k"}
    assert cloud.passthrough_env(env) == env


@pytest.mark.parametrize(
    ("provider", "env", "message"),
    [
        (
            "cloudflare",
            {"CLOUDFLARE_EMAIL": "ops@example.org"},
            "set CLOUDFLARE_API_TOKEN, or CLOUDFLARE_EMAIL and CLOUDFLARE_API_KEY",
        ),
        ("gcloud", {}, "set GOOGLE_CREDENTIALS, or GOOGLE_APPLICATION_CREDENTIALS, or "),
    ],
)
def test_missing_dns_credentials_are_named(provider: str, env: dict[str, str], message: str) -> None:
    dns = DnsConfig(provider, "p", "z") if provider == "gcloud" else DnsConfig(provider)
    cloud = CloudConfig("c", module="magic_castle:15.6.1", dns=dns)
    with pytest.raises(SettingsError) as err:
        cloud.passthrough_env(env)
    assert f"dns provider {provider} needs credentials in the hub's environment: {message}" in str(err.value)


def test_a_dns_change_changes_the_module_digest() -> None:
    # The digest is part of each cluster's hash: changing DNS settings re-plans the cloud's clusters.
    plain = CloudConfig("c", module="magic_castle:15.6.1")
    digests = {
        module_digest(plain, TEMPLATES),
        module_digest(CloudConfig("c", module="magic_castle:15.6.1", dns=DnsConfig("cloudflare")), TEMPLATES),
        module_digest(CloudConfig("c", module="magic_castle:15.6.1", config_version="15.6.0"), TEMPLATES),
    }
    assert len(digests) == 3
    assert module_digest(plain, TEMPLATES) == module_digest(plain, TEMPLATES)


def test_a_full_settings_file(tmp_path: Path) -> None:
    path = tmp_path / "settings.yaml"
    path.write_text(
        """
specs_dir: /srv/specs
clusters_dir: /srv/clusters
default_cloud: arbutus
terraform: /opt/terraform/bin/terraform
workers: 4
drift_interval: 300
drift_remediate: false
prune: true
clouds:
  arbutus:
    module: magic_castle:15.6.1
    config_version: 15.6.1
    domains: [hpc.example.org, lab.example.org]
    external_network: Public-Network
    clouds_yaml: /etc/openstack/clouds.yaml
    dns: {provider: gcloud, project: p, zone_name: z}
"""
    )
    settings = load_settings(path, environ={"MCHUB_WORKERS": "8"})
    assert (settings.specs_dir, settings.clusters_dir) == (Path("/srv/specs"), Path("/srv/clusters"))
    assert (settings.workers, settings.drift_interval, settings.drift_remediate, settings.prune) == (
        8,
        300.0,
        False,
        True,
    )
    cloud = settings.cloud(None)
    assert cloud.domains == ("hpc.example.org", "lab.example.org")
    assert cloud.clouds_yaml == Path("/etc/openstack/clouds.yaml")
    assert set(settings.clouds) == {"arbutus", "sandbox"}


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("workers: two", "workers: expected a whole number, got 'two'"),
        ("prune: 1", "prune: expected true or false, got 1"),
        ("drift_interval: soon", "drift_interval: expected a number"),
        ("specs_dir: [a]", "specs_dir: expected a string"),
        ("- a list", "expected a mapping of settings"),
        ("clouds: [arbutus]", "clouds: expected a mapping of cloud name -> cloud settings"),
        ("color: blue", "unknown setting color; choose among"),
        ("clouds: {c: {ssh_cidrs: [nope]}}", "clouds.c.ssh_cidrs: 'nope' is not an IP address or network"),
        ("clouds: {c: {ssh_cidrs: []}}", "clouds.c.ssh_cidrs: expected a list of IP addresses or networks"),
        ("clouds: {c: {ssh_port: 0}}", "clouds.c.ssh_port: a TCP port, 1 to 65535, got 0"),
        ("clouds: {c: {provisioning_timeout: -5}}", "clouds.c.provisioning_timeout: seconds, more than 0"),
        ("clouds: {c: {subnet: 7}}", "clouds.c.subnet: expected a string, got 7"),
        ("clouds: {c: {network: [a]}}", "clouds.c.network: expected a string"),
    ],
)
def test_bad_settings_are_named(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "settings.yaml"
    path.write_text(text)
    with pytest.raises(SettingsError) as err:
        load_settings(path, environ={})
    assert message in str(err.value)


def test_a_clouds_network_settings(tmp_path: Path) -> None:
    path = tmp_path / "settings.yaml"
    path.write_text(
        "clouds: {c: {network: lab, subnet: lab-v4, ssh_cidrs: [192.0.2.7, '2001:db8::/32'], ssh_port: 2222,"
        " provisioning_timeout: 600}}"
    )
    cloud = load_settings(path, environ={}).cloud("c")
    assert (cloud.network, cloud.subnet, cloud.ssh_port, cloud.provisioning_timeout) == (
        "lab",
        "lab-v4",
        2222,
        600,
    )
    assert cloud.ssh_cidrs == (
        "192.0.2.7/32",
        "2001:db8::/32",
    )  # canonical, as security group rules take them
    assert CloudConfig("d").ssh_cidrs == ("0.0.0.0/0",)


def test_spec_limits_are_settings(tmp_path: Path) -> None:
    path = tmp_path / "settings.yaml"
    path.write_text("max_hosts: 100\nmax_depth: 8\nmax_nb_users: 0\n")
    limits = load_settings(path, environ={}).limits
    assert limits == Limits(max_hosts=100, max_depth=8, max_nb_users=0)
    assert load_settings(None, environ={}).limits == DEFAULT_LIMITS


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("max_hosts: 0", "max_hosts must be at least 1, got 0"),
        ("max_volumes: -5", "max_volumes must be at least 1, got -5"),
        ("max_depth: 3", "max_depth must be at least 5 (a spec with volumes nests 5 levels deep), got 3"),
        ("max_hosts: many", "max_hosts: expected a whole number, got 'many'"),
        ("max_name_length: 12.5", "max_name_length: expected a whole number, got 12.5"),
    ],
)
def test_a_limit_that_cannot_be_is_named(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "settings.yaml"
    path.write_text(text)
    with pytest.raises(SettingsError) as err:
        load_settings(path, environ={})
    assert message in str(err.value)


def test_a_config_git_url_ending_in_a_newline_is_refused(tmp_path: Path) -> None:
    with pytest.raises(SettingsError, match="must match"):
        settings_with(tmp_path, {"module": "magic_castle:15.6.1", "config_git_url": "https://x.org/p.git\n"})
