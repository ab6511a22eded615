"""Wire-level fidelity, with plain HTTP as the stand-in Terraform provider speaks it: version
documents, auth failures, each service's error body, filters, paging, microversions."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from sandbox.server import SandboxInfo

UNAUTHORIZED = {"error": {"code": 401, "message": "The request you have made requires authentication.",
                          "title": "Unauthorized"}}


def project_url(http: httpx.Client, path: str) -> str:
    return f"/volume/v3/{http.headers['X-Project-Id']}{path}"


def test_version_documents(info: SandboxInfo) -> None:
    base = info.url
    identity = httpx.get(f"{base}/identity")
    assert identity.status_code == 300
    assert identity.json()["versions"]["values"][0]["links"][0]["href"] == f"{base}/identity/v3/"
    assert httpx.get(f"{base}/identity/v3").json()["version"]["id"] == "v3.14"
    compute = httpx.get(f"{base}/compute/v2.1").json()["version"]
    assert (compute["version"], compute["min_version"]) == ("2.96", "2.1")
    assert httpx.get(f"{base}/image").status_code == 300
    volume = httpx.get(f"{base}/volume/v3/").json()["versions"][0]
    assert (volume["version"], volume["min_version"]) == ("3.70", "3.0")
    assert httpx.get(f"{base}/volume/").status_code == 300
    assert httpx.get(f"{base}/network").json()["versions"][0]["id"] == "v2.0"


def test_tokens(info: SandboxInfo, auth_body: dict[str, Any]) -> None:
    reply = httpx.post(f"{info.url}/identity/v3/auth/tokens", json=auth_body)
    assert reply.status_code == 201
    token = reply.json()["token"]
    assert token["project"]["name"] == "test-project" and token["user"]["name"] == "tester"
    kinds = {entry["type"]: entry for entry in token["catalog"]}
    assert set(kinds) == {"identity", "compute", "image", "network", "block-storage", "volumev3"}
    endpoint = kinds["volumev3"]["endpoints"][0]
    assert endpoint["url"] == f"{info.url}/volume/v3/{token['project']['id']}"
    assert {e["interface"] for e in kinds["compute"]["endpoints"]} == {"public", "internal", "admin"}
    assert endpoint["region"] == endpoint["region_id"] == "RegionOne"

    subject = reply.headers["X-Subject-Token"]
    headers = {"X-Auth-Token": subject, "X-Subject-Token": subject}
    validated = httpx.get(f"{info.url}/identity/v3/auth/tokens", headers=headers)
    assert validated.status_code == 200 and validated.json()["token"]["project"] == token["project"]

    unscoped = dict(auth_body["auth"])
    del unscoped["scope"]
    reply = httpx.post(f"{info.url}/identity/v3/auth/tokens", json={"auth": unscoped})
    assert reply.status_code == 201 and "catalog" not in reply.json()["token"]
    unscoped_token = {"X-Auth-Token": reply.headers["X-Subject-Token"]}
    assert httpx.get(f"{info.url}/compute/v2.1/flavors", headers=unscoped_token).status_code == 401

    auth_body["auth"]["identity"]["password"]["user"]["password"] = "wrong"
    reply = httpx.post(f"{info.url}/identity/v3/auth/tokens", json=auth_body)
    assert (reply.status_code, reply.json()) == (401, UNAUTHORIZED)


def test_requests_without_a_valid_token_are_refused(info: SandboxInfo) -> None:
    paths = ("/compute/v2.1/flavors", "/image/v2/images", "/network/v2.0/networks", "/volume/v3/x/volumes")
    for path in paths:
        for headers in ({}, {"X-Auth-Token": "sbxforged.token"}):
            reply = httpx.get(info.url + path, headers=headers)
            assert (reply.status_code, reply.json()) == (401, UNAUTHORIZED), path
            assert reply.headers["WWW-Authenticate"] == f'Keystone uri="{info.url}/identity"'


def test_not_found_in_each_services_format(http: httpx.Client) -> None:
    missing = "00000000-0000-4000-8000-000000000000"
    reply = http.get(f"/compute/v2.1/servers/{missing}")
    assert reply.status_code == 404
    message = f"Instance {missing} could not be found."
    assert reply.json() == {"itemNotFound": {"code": 404, "message": message}}
    reply = http.get(f"/network/v2.0/networks/{missing}")
    assert reply.json() == {"NeutronError": {"type": "NetworkNotFound", "detail": "",
                                             "message": f"Network {missing} could not be found."}}
    reply = http.get(project_url(http, f"/volumes/{missing}"))
    assert reply.json() == {"itemNotFound": {"code": 404, "message": f"Volume {missing} could not be found."}}
    reply = http.get(f"/image/v2/images/{missing}")
    assert reply.status_code == 404 and f"No image found with ID {missing}" in reply.text
    reply = http.get("/compute/v2.1/no-such-thing")
    assert reply.json()["itemNotFound"]["message"] == "The resource could not be found."


def test_filters_and_paging(http: httpx.Client) -> None:
    nets = http.get("/network/v2.0/networks", params={"router:external": "True"}).json()["networks"]
    assert [n["name"] for n in nets] == ["wan"]
    nets = http.get("/network/v2.0/networks", params={"name": "lan", "fields": ["id", "name"]}).json()
    assert [sorted(n) for n in nets["networks"]] == [["id", "name"]]
    assert http.get("/network/v2.0/networks", params={"marker": nets["networks"][0]["id"]}).json() == {
        "networks": []}
    images = http.get("/image/v2/images", params={"name": "TestOS-2"}).json()
    assert [i["name"] for i in images["images"]] == ["TestOS-2"] and "next" not in images
    assert images["images"][0]["status"] == "active"
    assert http.get("/compute/v2.1/flavors/detail", params={"marker": "x"}).json() == {"flavors": []}
    big = http.get("/compute/v2.1/flavors", params={"minRam": 4096}).json()["flavors"]
    assert [f["name"] for f in big] == ["small-2", "big-4"]
    types = http.get(project_url(http, "/types")).json()["volume_types"]
    assert [t["name"] for t in types] == ["__DEFAULT__"]
    assert http.get("/network/v2.0/extensions").json()["extensions"]


def test_microversions(http: httpx.Client) -> None:
    lan = http.get("/network/v2.0/networks", params={"name": "lan"}).json()["networks"][0]
    flavor = http.get("/compute/v2.1/flavors").json()["flavors"][0]
    image = http.get("/image/v2/images").json()["images"][0]
    server = {"name": "web1", "flavorRef": flavor["id"], "imageRef": image["id"],
              "networks": [{"uuid": lan["id"]}]}
    created = http.post("/compute/v2.1/servers", json={"server": server})
    assert created.status_code == 202 and created.json()["server"]["adminPass"]
    path = f"/compute/v2.1/servers/{created.json()['server']['id']}"
    old = http.get(path)
    assert old.headers["OpenStack-API-Version"] == "compute 2.1"
    assert old.json()["server"]["flavor"]["id"] == flavor["id"]
    new = http.get(path, headers={"OpenStack-API-Version": "compute 2.96"})
    assert new.headers["OpenStack-API-Version"] == "compute 2.96"
    assert new.json()["server"]["flavor"]["original_name"] == flavor["name"]
    too_new = http.get(path, headers={"OpenStack-API-Version": "compute 3.0"})
    assert too_new.status_code == 406
    addresses = new.json()["server"]["addresses"]["lan"]
    assert addresses[0]["addr"].startswith("192.168.7.") and addresses[0]["OS-EXT-IPS:type"] == "fixed"


def test_ports_security_groups_and_routers(http: httpx.Client) -> None:
    lan = http.get("/network/v2.0/networks", params={"name": "lan"}).json()["networks"][0]
    port = http.post("/network/v2.0/ports", json={"port": {
        "network_id": lan["id"], "fixed_ips": [{"ip_address": "192.168.7.50"}]}}).json()["port"]
    assert port["fixed_ips"][0]["ip_address"] == "192.168.7.50"
    clash = http.post("/network/v2.0/ports", json={"port": {
        "network_id": lan["id"], "fixed_ips": [{"ip_address": "192.168.7.50"}]}})
    assert (clash.status_code, clash.json()["NeutronError"]["type"]) == (409, "IpAddressAlreadyAllocated")
    assert http.get("/network/v2.0/ports", params={"device_id": ""}).json()["ports"][0]["id"] == port["id"]

    group = http.post("/network/v2.0/security-groups", json={"security_group": {"name": "ssh"}}).json()
    group_id = group["security_group"]["id"]
    assert len(group["security_group"]["security_group_rules"]) == 2  # the default egress rules
    rule = {"security_group_id": group_id, "direction": "ingress", "protocol": "tcp", "port_range_min": 22,
            "port_range_max": 22, "remote_ip_prefix": "0.0.0.0/0", "ethertype": "IPv4"}
    first = http.post("/network/v2.0/security-group-rules", json={"security_group_rule": rule})
    assert first.status_code == 201
    again = http.post("/network/v2.0/security-group-rules", json={"security_group_rule": rule})
    assert (again.status_code, again.json()["NeutronError"]["type"]) == (409, "SecurityGroupRuleExists")
    assert http.put(f"/network/v2.0/ports/{port['id']}", json={"port": {
        "security_groups": [group_id]}}).json()["port"]["security_groups"] == [group_id]
    in_use = http.delete(f"/network/v2.0/security-groups/{group_id}")
    assert in_use.status_code == 409

    router = http.post("/network/v2.0/routers", json={"router": {"name": "r"}}).json()["router"]
    # The seeded router already holds lan's gateway address: this one goes on a new subnet.
    taken = http.put(f"/network/v2.0/routers/{router['id']}/add_router_interface",
                     json={"subnet_id": lan["subnets"][0]})
    assert (taken.status_code, taken.json()["NeutronError"]["type"]) == (409, "IpAddressAlreadyAllocated")
    net = http.post("/network/v2.0/networks", json={"network": {"name": "lan2"}}).json()["network"]
    subnet_id = http.post("/network/v2.0/subnets", json={"subnet": {
        "network_id": net["id"], "cidr": "192.168.8.0/24", "ip_version": 4}}).json()["subnet"]["id"]
    interface = {"subnet_id": subnet_id}
    added = http.put(f"/network/v2.0/routers/{router['id']}/add_router_interface", json=interface)
    assert added.json()["subnet_id"] == subnet_id
    assert http.delete(f"/network/v2.0/routers/{router['id']}").status_code == 409
    http.put(f"/network/v2.0/routers/{router['id']}/remove_router_interface", json=interface)
    assert http.delete(f"/network/v2.0/routers/{router['id']}").status_code == 204
    assert http.delete(f"/network/v2.0/ports/{port['id']}").status_code == 204
    assert http.delete(f"/network/v2.0/security-groups/{group_id}").status_code == 204


def test_volume_lifecycle_over_http(http: httpx.Client) -> None:
    created = http.post(project_url(http, "/volumes"), json={"volume": {"size": 2, "name": "data"}})
    assert created.status_code == 202
    volume = created.json()["volume"]
    assert (volume["status"], volume["bootable"]) == ("available", "false")
    assert volume["volume_type"] == "__DEFAULT__"
    brief = http.get(project_url(http, "/volumes")).json()["volumes"]
    assert [sorted(v) for v in brief] == [["id", "links", "name"]]
    detail = http.get(project_url(http, "/volumes/detail"), params={"name": "data"}).json()["volumes"]
    assert [v["size"] for v in detail] == [2]
    renamed = http.put(project_url(http, f"/volumes/{volume['id']}"), json={"volume": {"name": "home"}})
    assert renamed.json()["volume"]["name"] == "home"
    shrink = {"os-extend": {"new_size": 1}}
    extend = http.post(project_url(http, f"/volumes/{volume['id']}/action"), json=shrink)
    assert extend.status_code == 400 and "badRequest" in extend.json()
    limits = http.get(project_url(http, "/limits")).json()["limits"]["absolute"]
    assert (limits["totalVolumesUsed"], limits["totalGigabytesUsed"]) == (2, 12)
    project = http.headers["X-Project-Id"]
    quota = http.get(project_url(http, f"/os-quota-sets/{project}"), params={"usage": "True"})
    usage = {"limit": 100, "in_use": 12, "reserved": 0, "allocated": 0}
    assert quota.json()["quota_set"]["gigabytes"] == usage
    assert http.delete(project_url(http, f"/volumes/{volume['id']}")).status_code == 202


@pytest.mark.parametrize("body", [b"not json", b"[1, 2]", b'{"server": "x"}', b'{"server": {"name": ""}}',
                                  b'{"server": {"name": "x", "flavorRef": "nope"}}'])
def test_malformed_bodies_are_400(http: httpx.Client, body: bytes) -> None:
    reply = http.post("/compute/v2.1/servers", content=body, headers={"Content-Type": "application/json"})
    assert reply.status_code == 400 and "badRequest" in reply.json()


def test_bad_block_device_mappings_are_400(http: httpx.Client) -> None:
    flavor = http.get("/compute/v2.1/flavors").json()["flavors"][0]["id"]
    image = http.get("/image/v2/images").json()["images"][0]["id"]
    for mapping, message in [
        ({"uuid": image}, "Invalid input for field/attribute block_device_mapping_v2."),
        (["x"], "expected an object"),
        ([{"source_type": "snapshot", "boot_index": 0}], "source_type must be one of image, volume, blank"),
        ([{"source_type": "image", "uuid": image, "boot_index": 0, "destination_type": "volume"}],
         "need to have a non-zero size"),
    ]:
        server = {"name": "x", "flavorRef": flavor, "imageRef": image, "block_device_mapping_v2": mapping}
        reply = http.post("/compute/v2.1/servers", json={"server": server})
        assert reply.status_code == 400, mapping
        assert message in reply.json()["badRequest"]["message"]
