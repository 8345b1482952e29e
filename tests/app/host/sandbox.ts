// The sandbox proxy of the test host (host.ts), on an origin of its own as the MCP Apps spec requires of a web
// host. It loads the view's HTML into an inner iframe of its origin, so the view runs under the CSP its server
// sent this page as a header (tests/app/pages.py builds it from the resource's `_meta.ui.csp`), and relays
// messages both ways, except the two sandbox notifications, which are its own. After ext-apps' basic-host.

const host = new URL(document.referrer).origin;
const inner = document.createElement("iframe");
inner.style.cssText = "width: 100%; height: 100%; border: none; display: block";
inner.setAttribute("sandbox", "allow-scripts allow-same-origin allow-forms");
document.body.append(inner);

window.addEventListener("message", ({ source, origin, data }) => {
  if (source === window.parent && origin === host) {
    if (data?.method === "ui/notifications/sandbox-resource-ready") {
      const { html, sandbox } = data.params;
      if (typeof sandbox === "string") inner.setAttribute("sandbox", sandbox);
      // document.write rather than srcdoc keeps the view on this origin (and under this page's CSP).
      const doc = inner.contentDocument!;
      doc.open();
      doc.write(html);
      doc.close();
    } else {
      inner.contentWindow?.postMessage(data, "*");
    }
  } else if (source === inner.contentWindow) {
    window.parent.postMessage(data, host);
  }
});

window.parent.postMessage({ jsonrpc: "2.0", method: "ui/notifications/sandbox-proxy-ready", params: {} }, host);
