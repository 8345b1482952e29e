// A small MCP Apps host for the browser tests: what claude.ai or VS Code do with a tool whose `_meta.ui` names a
// `ui://` resource, and nothing more. The TypeScript MCP client talks to the server over streamable HTTP; each tool
// call with a UI gets a view of its own, as each call in a chat does: a sandbox proxy iframe on another origin
// (sandbox.ts), the resource's HTML inside it, and an AppBridge that forwards the view's tools/call and
// resources/read to the client. Modelled on ext-apps' examples/basic-host (its double-iframe sandbox, the
// sandbox attribute and the CSP from `_meta.ui.csp`), without React.
//
// A test drives it through `window.host` (tests/app/conftest.py) and reads back `window.host.log`: every request
// and notification a view sent the host, with the host's answer to each request.

import { Client, StreamableHTTPClientTransport } from "@modelcontextprotocol/client";
import type { CallToolResult, JSONRPCMessage, Tool } from "@modelcontextprotocol/client";
import {
  AppBridge,
  PostMessageTransport,
  RESOURCE_MIME_TYPE,
  getToolUiResourceUri,
} from "@modelcontextprotocol/ext-apps/app-bridge";
import type {
  McpUiDisplayMode,
  McpUiHostContext,
  McpUiResourceCsp,
  McpUiResourcePermissions,
} from "@modelcontextprotocol/ext-apps/app-bridge";

const HOST_INFO = { name: "ideogram-mcp test host", version: "1.0.0" };
/** Bounds a view's handshake: a page that never sends ui/initialize fails the call, saying so, instead of hanging. */
const INITIALIZE_WITHIN_MS = 15_000;

interface Options {
  /** The MCP endpoint, on this page's origin (the test's server proxies it). */
  mcp: string;
  /** The sandbox proxy page, on another origin (the spec requires it). */
  sandbox: string;
  token?: string;
  /** The width of each view, fixed (containerDimensions.width); its height follows the view's size-changed. */
  width?: number;
  theme?: "light" | "dark";
}

interface Entry {
  view: number;
  /** Milliseconds since the host's callTool that opened the view began. */
  at: number;
  method: string;
  params?: unknown;
  id?: string | number;
  result?: unknown;
  error?: unknown;
}

interface View {
  iframe: HTMLIFrameElement;
  bridge: AppBridge;
  started: number;
  /** Milliseconds from callTool to each stage, for the tests' timings. */
  timings: Record<string, number>;
}

interface UiResource {
  html: string;
  csp?: McpUiResourceCsp;
  permissions?: McpUiResourcePermissions;
}

let client: Client | undefined;
let options: Options | undefined;
const tools = new Map<string, Tool>();
const resources = new Map<string, Promise<UiResource>>();
const views: View[] = [];
const log: Entry[] = [];
let opened = 0;

async function connect(given: Options): Promise<string[]> {
  options = given;
  const headers: Record<string, string> = given.token ? { Authorization: `Bearer ${given.token}` } : {};
  client = new Client(HOST_INFO);
  await client.connect(
    new StreamableHTTPClientTransport(new URL(given.mcp, location.href), { requestInit: { headers } }),
  );
  for (const tool of (await client.listTools()).tools) tools.set(tool.name, tool);
  return [...tools.keys()];
}

/** Calls the tool; when it has a UI, opens a view of it and gives the view the call's input and result. */
async function callTool(name: string, args: Record<string, unknown> = {}): Promise<CallToolResult> {
  const mcp = connected();
  const tool = tools.get(name);
  if (!tool) throw new Error(`the server lists no tool ${name}`);
  const started = performance.now();
  const result = mcp.callTool({ name, arguments: args }) as Promise<CallToolResult>;
  const uri = getToolUiResourceUri(tool);
  if (!uri) return result;
  const view = await open(uri, tool, started);
  await view.bridge.sendToolInput({ arguments: args });
  try {
    const done = await result;
    await view.bridge.sendToolResult(done);
    view.timings.resultSent = performance.now() - started;
    return done;
  } catch (error) {
    await view.bridge.sendToolCancelled({ reason: error instanceof Error ? error.message : String(error) });
    throw error;
  }
}

function connected(): Client {
  if (!client) throw new Error("window.host.connect() first");
  return client;
}

/** A UI resource is read once and kept, as the spec lets a host cache it. */
function readUi(uri: string): Promise<UiResource> {
  let read = resources.get(uri);
  if (!read) {
    read = connected()
      .readResource({ uri })
      .then(({ contents }) => {
        if (contents.length !== 1) throw new Error(`${uri} has ${contents.length} contents, not one`);
        const [content] = contents;
        if (content.mimeType !== RESOURCE_MIME_TYPE) throw new Error(`${uri} is ${content.mimeType}`);
        const html = "text" in content ? content.text : utf8(content.blob);
        const ui = (content._meta as { ui?: Omit<UiResource, "html"> } | undefined)?.ui;
        return { html, csp: ui?.csp, permissions: ui?.permissions };
      });
    resources.set(uri, read);
  }
  return read;
}

function utf8(base64: string): string {
  return new TextDecoder().decode(Uint8Array.from(atob(base64), (c) => c.charCodeAt(0)));
}

async function open(uri: string, tool: Tool, started: number): Promise<View> {
  const number = ++opened; // taken at once: calls made together number their views in the order they were made
  const ui = await readUi(uri);
  const timings: Record<string, number> = { resourceRead: performance.now() - started };
  const width = options?.width ?? 720;
  const iframe = document.createElement("iframe");
  iframe.id = `app-${number}`;
  iframe.title = `${tool.name} view`;
  // The sandbox attribute and the proxy on another origin are what the spec asks of a web host (and what
  // basic-host does); the view's CSP travels to the proxy's server, which sends it as a header.
  iframe.setAttribute("sandbox", "allow-scripts allow-same-origin allow-forms");
  iframe.style.width = `${width}px`;
  iframe.style.height = "0px";
  const sandbox = new URL(connectedOptions().sandbox, location.href);
  if (ui.csp) sandbox.searchParams.set("csp", JSON.stringify(ui.csp));
  const proxyReady = message(iframe, "ui/notifications/sandbox-proxy-ready");
  iframe.src = sandbox.href;
  document.getElementById("views")!.append(iframe);
  await proxyReady;
  timings.sandboxReady = performance.now() - started;

  const view: View = { iframe, bridge: bridgeFor(iframe, tool, width), started, timings };
  views[number - 1] = view;
  const transport = new PostMessageTransport(iframe.contentWindow!, iframe.contentWindow!);
  record(view, number, transport);
  const initialized = new Promise<void>((resolve) => view.bridge.addEventListener("initialized", () => resolve()));
  await view.bridge.connect(transport);
  await view.bridge.sendSandboxResourceReady({ html: ui.html, csp: ui.csp, permissions: ui.permissions });
  await within(initialized, INITIALIZE_WITHIN_MS, `${uri} did not complete ui/initialize`);
  view.timings.initialized = performance.now() - started;
  return view;
}

function connectedOptions(): Options {
  if (!options) throw new Error("window.host.connect() first");
  return options;
}

function bridgeFor(iframe: HTMLIFrameElement, tool: Tool, width: number): AppBridge {
  const server = connected().getServerCapabilities();
  const context: McpUiHostContext = {
    toolInfo: { tool },
    theme: options?.theme ?? "light",
    displayMode: "inline",
    availableDisplayModes: ["inline", "fullscreen"],
    containerDimensions: { width, maxHeight: 6000 },
    platform: "web",
    locale: "en-US",
  };
  const bridge = new AppBridge(
    connected(),
    HOST_INFO,
    {
      openLinks: {},
      downloadFile: {},
      serverTools: server?.tools,
      serverResources: server?.resources,
      logging: {},
      updateModelContext: { text: {}, structuredContent: {} },
      message: { text: {} },
    },
    { hostContext: context },
  );
  // The host's side of each ui/ request: accepted and recorded (the log has them), nothing opened or sent on.
  bridge.onupdatemodelcontext = async () => ({});
  bridge.onmessage = async () => ({});
  bridge.onopenlink = async () => ({});
  bridge.ondownloadfile = async () => ({});
  bridge.onrequestdisplaymode = async ({ mode }) => {
    const now: McpUiDisplayMode = mode === "fullscreen" ? "fullscreen" : "inline";
    bridge.sendHostContextChange({ displayMode: now });
    return { mode: now };
  };
  // The width is the host's (fixed in containerDimensions); the height is the view's to ask for.
  bridge.addEventListener("sizechange", ({ height }) => {
    if (height !== undefined) iframe.style.height = `${height}px`;
  });
  return bridge;
}

/** Everything the view sends the host goes into the log; the host's answers are attached to their requests. */
function record(view: View, number: number, transport: PostMessageTransport): void {
  const source = view.iframe.contentWindow;
  const asked = new Map<string | number, Entry>();
  window.addEventListener("message", ({ source: from, data }) => {
    if (from !== source || typeof data?.method !== "string" || data.method.startsWith("ui/notifications/sandbox-"))
      return;
    const entry: Entry = { view: number, at: performance.now() - view.started, method: data.method };
    if (data.params !== undefined) entry.params = data.params;
    if (data.id !== undefined) asked.set((entry.id = data.id), entry);
    log.push(entry);
    if (data.method === "ui/notifications/size-changed") view.timings.firstSize ??= entry.at;
  });
  const send = transport.send.bind(transport);
  transport.send = (message: JSONRPCMessage, ...rest) => {
    const answer = message as { id?: string | number; method?: string; result?: unknown; error?: unknown };
    const entry = answer.method === undefined && answer.id !== undefined ? asked.get(answer.id) : undefined;
    if (entry) Object.assign(entry, answer.error !== undefined ? { error: answer.error } : { result: answer.result });
    return send(message, ...rest);
  };
}

function message(iframe: HTMLIFrameElement, method: string): Promise<void> {
  return new Promise((resolve) => {
    const listener = ({ source, data }: MessageEvent) => {
      if (source === iframe.contentWindow && data?.method === method) {
        window.removeEventListener("message", listener);
        resolve();
      }
    };
    window.addEventListener("message", listener);
  });
}

function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  return Promise.race([
    promise,
    new Promise<never>((_, reject) => setTimeout(() => reject(new Error(`${what} within ${ms} ms`)), ms)),
  ]);
}

declare global {
  interface Window {
    host: {
      connect: typeof connect;
      callTool: typeof callTool;
      log: Entry[];
      timings: () => (Record<string, number> | null)[];
      calledAt: (view: number) => number;
      tools: () => Tool[];
    };
  }
}

window.host = {
  connect,
  callTool,
  log,
  timings: () => Array.from(views, (view) => view?.timings ?? null),
  // When the call that opened a view began, in ms since the epoch: a view's own clock starts with its frame.
  calledAt: (view: number) => performance.timeOrigin + views[view - 1].started,
  tools: () => [...tools.values()],
};
