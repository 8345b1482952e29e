"""The browser harness itself: the test host reaches a real ``ideogram-mcp http --offline`` through the TypeScript
MCP client, and renders an image tool's result in the gallery as an MCP Apps host would."""

from __future__ import annotations

from playwright.sync_api import expect

from .conftest import WIDTH, HostPage, Shot

GALLERY = "ui://ideogram/gallery"
IMAGE_TOOLS = {"generate_image", "edit_image", "remix_image", "reframe_image", "replace_background"}


def test_the_host_lists_the_tools_and_a_generated_images_gallery_completes_its_handshake(
    host_page: HostPage, shot: Shot
) -> None:
    pointing = {tool["name"]: tool.get("_meta", {}).get("ui", {}).get("resourceUri") for tool in host_page.tools}
    assert {name for name, uri in pointing.items() if uri == GALLERY} >= IMAGE_TOOLS

    result = host_page.call_tool("generate_image", {"positivePrompt": "a red kite", "numberResults": 2})

    assert not result.get("isError"), result
    assert len(result["structuredContent"]["images"]) == 2
    (initialize,) = host_page.log("ui/initialize")
    assert initialize["view"] == 1
    context = initialize["result"]["hostContext"]
    assert (context["displayMode"], context["containerDimensions"]["width"]) == ("inline", WIDTH)
    assert len(host_page.log("ui/notifications/initialized")) == 1
    expect(host_page.view(1).get_by_role("img", name="a red kite")).to_have_count(2)
    host_page.settle(1)
    painted = host_page.first_paint(1)
    assert painted is not None
    assert 0 < painted < initialize["at"] + 5_000
    shot(host_page.page, "gallery")
