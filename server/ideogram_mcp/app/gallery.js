"use strict";
// The gallery's script. It speaks the MCP Apps protocol (JSON-RPC 2.0 over postMessage with the host, revision
// 2026-01-26) directly: a few messages, which keeps the page a few kilobytes instead of half a megabyte of SDK.
// Everything it does to images is a tools/call of this server through the host.
(() => {
  const FACTS = JSON.parse(document.getElementById("facts").textContent);
  const PROTOCOL = "2026-01-26";
  const $ = (id) => document.getElementById(id);
  const state = {
    images: [],      // every image shown, in the order it came
    picked: [],      // the images picked (at most two: the latest is the one worked on)
    boxes: [],       // rectangles drawn on the picked image, in fractions {x, y, width, height}
    current: -1,     // the rectangle the keyboard moves
    args: {},        // the arguments of the call whose result comes next
    asked: {},       // each task's arguments, by taskUUID: a pending task's images come later, from get_generation
    pending: null,   // a priced call waiting for the person's yes
    working: null,   // the image worked on: its rectangles are kept while it stays so
    done: [],        // what the person had run here, each a line: the model is told them all, as the host keeps one
    host: {},        // what the host can do (hostCapabilities)
  };

  // --- the host ------------------------------------------------------------------------------------------------
  let nextId = 1;
  const waiting = new Map();
  const send = (message) => window.parent.postMessage({ jsonrpc: "2.0", ...message }, "*");
  const notify = (method, params) => send({ method, params });
  function request(method, params) {
    const id = nextId++;
    send({ id, method, params });
    return new Promise((resolve, reject) => waiting.set(id, { resolve, reject }));
  }

  window.addEventListener("message", (event) => {
    if (event.source !== window.parent) return;
    const message = event.data;
    if (!message || message.jsonrpc !== "2.0") return;
    try {
      if (message.method === undefined && waiting.has(message.id)) {
        const { resolve, reject } = waiting.get(message.id);
        waiting.delete(message.id);
        if (message.error) reject(new Error(message.error.message || "the host refused"));
        else resolve(message.result);
      } else if (typeof message.method === "string") {
        handle(message);
      }
    } catch (error) {
      problem(`The gallery could not show this: ${error.message}`);
    }
  });

  function handle(message) {
    const params = message.params || {};
    switch (message.method) {
      case "ui/notifications/tool-input":
        state.args = params.arguments || {};
        break;
      case "ui/notifications/tool-result":
        shown(params, state.args);
        break;
      case "ui/notifications/host-context-changed":
        context(params);
        break;
      case "ui/notifications/tool-cancelled":
        say("The call was cancelled.");
        break;
      case "ui/resource-teardown":
      case "ping":
        send({ id: message.id, result: {} });
        break;
      default:
        if (message.id !== undefined) send({ id: message.id, error: { code: -32601, message: `${message.method} is not handled` } });
    }
  }

  function context(hostContext) {
    if (hostContext.theme === "dark" || hostContext.theme === "light") document.documentElement.style.colorScheme = hostContext.theme;
  }

  // --- results -------------------------------------------------------------------------------------------------
  // A saved image's file name: its path is the server machine's, with "\\" between folders on Windows.
  const baseName = (path) => path.split(/[\\/]/).pop();
  // What an agent gave under any spelling the server reads of an argument (FACTS.promptNames, FACTS.imageNames: in
  // any case).
  const spellings = (names) => new Set(names.map((name) => name.toLowerCase()));
  const PROMPT_NAMES = spellings(FACTS.promptNames);
  const IMAGE_NAMES = spellings(FACTS.imageNames);
  const under = (args, names) => Object.keys(args).filter((name) => names.has(name.toLowerCase())).map((name) => args[name]);
  // The prompt an agent gave, or a 4.0 scene's summary.
  const promptOf = (args, image) => {
    const named = under(args, PROMPT_NAMES).find((v) => typeof v === "string" && v.trim());
    const scene = (image && image.structuredPrompt) || {};
    return named || (typeof scene.high_level_description === "string" ? scene.high_level_description : "");
  };
  const MIME = { JPG: "image/jpeg", JPEG: "image/jpeg", PNG: "image/png", WEBP: "image/webp" };
  const textOf = (result) => (result.content || []).filter((b) => b && b.type === "text").map((b) => b.text).join("\n");

  function shown(result, given) {
    if (!result || typeof result !== "object") throw new Error("the host sent no tool result");
    if (result.isError) {
      say("");  // what was said while waiting no longer holds
      return problem(textOf(result) || "The call failed.");
    }
    const out = result.structuredContent;
    if (!out || typeof out !== "object" || !Array.isArray(out.images)) {
      throw new Error("the result holds no images (structuredContent.images is missing)");
    }
    problem("");
    // What the call that made them was given: get_generation (the agent's, or "Check again") is given the taskUUID
    // only, and the task's own arguments are kept from its first answer.
    const args = { ...(state.asked[out.taskUUID] || {}), ...given };
    const asked = state.done.find((d) => d.task && d.task === out.taskUUID);
    if (asked && asked.result !== resultOf(out)) {  // what it made arrived later: the model is told
      asked.result = resultOf(out);
      told();
    }
    if (out.taskUUID && Object.keys(given).length) state.asked[out.taskUUID] = args;
    const links = (result.content || []).filter((b) => b && b.type === "resource_link");
    const previews = (result.content || []).filter((b) => b && b.type === "image");
    // The image an edit came from, under any name the server reads for it (remix's is a list), by its UUID, path,
    // file name or link.
    const from = [].concat(under(args, IMAGE_NAMES)[0] || [])[0];
    const origin = from && state.images.find((i) => [i.uuid, i.path, i.path && baseName(i.path), i.uri, i.url].includes(from));
    out.images.forEach((image, n) => {
      if (!image || typeof image.imageUUID !== "string") throw new Error(`image ${n + 1} has no imageUUID`);
      const name = image.path ? baseName(image.path) : null;
      const mine = links.filter((l) => name && l.name === name);
      // A scene all the images share is given on the first of them only.
      const said = promptOf(args, image.structuredPrompt ? image : out.images.find((i) => i && i.structuredPrompt));
      const record = {
        uuid: image.imageUUID,
        url: image.imageURL,
        path: image.path || null,
        seed: image.seed,
        width: image.width,
        height: image.height,
        format: image.format,
        cost: image.cost,
        prompt: said || (origin || {}).prompt || "",
        // What the image as a whole shows, for a remix asked with no prompt: an edit's or a new background's prompt
        // says only what changed, and the image it came from says the rest.
        whole: (FACTS.wholePrompts.includes(out.model) ? said : (origin || {}).whole) || "",
        uri: (mine.find((l) => !/^https?:/.test(l.uri)) || {}).uri || null,
        download: (mine.find((l) => /^https?:/.test(l.uri)) || {}).uri || null,
        mime: (mine[0] || {}).mimeType || MIME[String(image.format || "").toUpperCase()] || "image/jpeg",
        // One preview an image, in their order (up to four; more share one contact sheet, which no tile shows).
        preview: previews.length === out.images.length ? `data:${previews[n].mimeType};base64,${previews[n].data}` : null,
      };
      // Shown before (a pending task asked again): the same record, updated, so a pick of it holds and what this
      // answer does not say (the prompt get_generation is not given) is kept.
      const known = state.images.find((i) => i.uuid === record.uuid);
      if (known) {
        const kept = { prompt: record.prompt || known.prompt, whole: record.whole || known.whole };
        Object.assign(known, record, kept, { preview: record.preview || known.preview });
      }
      else state.images.push(record);
      tile(known || record);
    });
    const picked = worked();  // told of again (saved since): its line says so, what was drawn on it kept
    if (picked && out.images.some((image) => image.imageUUID === picked.uuid)) $("saved").textContent = savedAs(picked);
    const made = out.images.length;
    const failed = Array.isArray(out.errors) && out.errors.length
      ? ` ${out.errors.length} image(s) failed: ${out.errors[0]}` : "";
    if (out.status === "pending") {
      say(`${made} of ${out.requested} image(s) ready; the rest are still rendering.`, {
        label: "Check again",
        act: () => again(out.taskUUID),
      });
    } else if (out.status === "dry_run") {
      say(`Dry run: this would cost ${money(out.quote)}.`);
    } else {
      say(`${state.images.length} image(s). Pick one to change it, two to compare them.${failed}`);
    }
  }

  function tile(image) {
    const id = `tile-${image.uuid}`;
    let item = document.getElementById(id);
    if (!item) {
      item = document.createElement("li");
      item.id = id;
      $("grid").append(item);
    }
    const n = state.images.indexOf(image) + 1;
    item.innerHTML = "";
    const button = document.createElement("button");
    button.type = "button";
    button.className = "tile";
    const picture = document.createElement("img");
    picture.alt = image.prompt ? `${image.prompt} (image ${n})` : `Image ${n}`;
    picture.width = image.width || 1024;
    picture.height = image.height || 1024;
    button.append(picture);
    button.addEventListener("click", () => pick(image));
    const about = document.createElement("div");
    about.className = "about";
    const size = image.width && image.height ? `${image.width}x${image.height}` : "";
    about.textContent = [size, image.seed !== undefined ? `seed ${image.seed}` : "", money(image.cost), image.path || "not saved"]
      .filter(Boolean)
      .join(" · ");
    const said = document.createElement("div");
    said.className = "prompt";
    said.textContent = image.prompt;
    item.append(button, said, about);
    marked(image);
    source(image).then((src) => {
      if (src) picture.src = src;
    });
  }

  function marked(image) {
    const item = document.getElementById(`tile-${image.uuid}`);
    const picked = state.picked.includes(image);
    item.classList.toggle("picked", picked);
    item.querySelector("button.tile").setAttribute("aria-pressed", String(picked));
  }

  async function source(image) {
    if (image.src) return image.src;
    if (image.uri) {
      try {
        const read = await request("resources/read", { uri: image.uri });
        const content = (read.contents || [])[0];
        if (content && content.blob) {
          // A data: URI, not a blob: one: the CSP hosts give an App allows images as data.
          image.src = `data:${content.mimeType || image.mime};base64,${content.blob}`;
          return image.src;
        }
      } catch (error) {
        console.warn("the image could not be read through the host", error);
      }
    }
    const served = FACTS.imageHosts.some((host) => (image.url || "").startsWith(`${host}/`));
    image.src = image.preview || (served ? image.url : null);
    return image.src;
  }

  // --- picking and comparing -----------------------------------------------------------------------------------
  function pick(image) {
    state.picked = state.picked.includes(image)
      ? state.picked.filter((i) => i !== image)
      : [...state.picked, image].slice(-2);
    for (const each of state.images) marked(each);
    const [first, second] = state.picked;
    const pair = $("compare").querySelector(".pair");
    pair.innerHTML = "";
    $("compare").hidden = !second;
    if (second) {
      for (const image of [first, second]) {
        const picture = document.createElement("img");
        picture.alt = `${image.prompt} (image ${state.images.indexOf(image) + 1})`;
        source(image).then((src) => src && (picture.src = src));
        pair.append(picture);
      }
    }
    work(state.picked[state.picked.length - 1] || null);
  }

  function work(image) {
    $("work").hidden = !image;
    const same = image === state.working;  // still worked on (a comparison closed): what was drawn on it is kept
    state.working = image;
    if (!same) {
      state.boxes = [];
      state.current = -1;
    }
    boxes();
    if (!image) return;
    $("work-title").textContent = `Change image ${state.images.indexOf(image) + 1}`;
    const shown = $("picked");
    shown.alt = `${image.prompt} (image ${state.images.indexOf(image) + 1}), to draw on`;
    // Never the picture of an image picked before: its source may come after this one's, and what is drawn on it
    // would be sent as this image's region.
    shown.removeAttribute("src");
    source(image).then((src) => src && worked() === image && (shown.src = src));
    $("saved").textContent = savedAs(image);
  }
  const savedAs = (image) => (image.path ? `Saved as ${image.path}` : "Not saved: download it to keep it.");

  // --- drawing: by pointer, or by keyboard ---------------------------------------------------------------------
  const canvas = $("canvas");
  const clamp = (v) => Math.min(1, Math.max(0, v));
  const round = (v) => Math.round(v * 10000) / 10000;
  function at(event) {
    const frame = $("picked").getBoundingClientRect();
    return { x: clamp((event.clientX - frame.left) / frame.width), y: clamp((event.clientY - frame.top) / frame.height) };
  }
  // Each pointer down draws its own rectangle (a finger and a pen, two fingers): one lifted where it went down leaves
  // no empty rectangle behind for the server to refuse, whichever pointer moved.
  const drags = new Map();  // pointerId -> { start, box }
  canvas.addEventListener("pointerdown", (event) => {
    const start = at(event);
    const box = { x: start.x, y: start.y, width: 0, height: 0 };
    try { canvas.setPointerCapture(event.pointerId); } catch { /* a pointer the page no longer has: drawn as is */ }
    drags.set(event.pointerId, { start, box });
    state.boxes.push(box);
    state.current = state.boxes.length - 1;
  });
  canvas.addEventListener("pointermove", (event) => {
    const drag = drags.get(event.pointerId);
    if (!drag) return;
    const here = at(event), start = drag.start;
    Object.assign(drag.box, {
      x: Math.min(start.x, here.x), y: Math.min(start.y, here.y),
      width: Math.abs(here.x - start.x), height: Math.abs(here.y - start.y),
    });
    state.current = Math.max(0, state.boxes.indexOf(drag.box));
    boxes();
  });
  function lifted(event, drawn) {
    const drag = drags.get(event.pointerId);
    if (!drag) return;
    drags.delete(event.pointerId);
    const index = state.boxes.indexOf(drag.box);
    // A touch taken over by the page was not drawn; a click or a tap draws nothing.
    if (index >= 0 && (!drawn || drag.box.width < 0.005 || drag.box.height < 0.005)) {
      state.boxes.splice(index, 1);
      state.current = state.boxes.length - 1;
    }
    boxes();
  }
  canvas.addEventListener("pointercancel", (event) => lifted(event, false));
  canvas.addEventListener("pointerup", (event) => lifted(event, true));
  canvas.addEventListener("keydown", (event) => {
    const box = state.boxes[state.current];
    const step = event.altKey ? 0.1 : 0.01;
    const moves = { ArrowLeft: [-step, 0], ArrowRight: [step, 0], ArrowUp: [0, -step], ArrowDown: [0, step] };
    if (event.key === "n" || event.key === "N") {
      state.boxes.push({ x: 0.25, y: 0.25, width: 0.5, height: 0.5 });
      state.current = state.boxes.length - 1;
    } else if (box && moves[event.key]) {
      const [dx, dy] = moves[event.key];
      if (event.shiftKey) {
        box.width = clamp(Math.max(0.01, box.width + dx) + box.x) - box.x;
        box.height = clamp(Math.max(0.01, box.height + dy) + box.y) - box.y;
      } else {
        box.x = clamp(Math.min(box.x + dx, 1 - box.width));
        box.y = clamp(Math.min(box.y + dy, 1 - box.height));
      }
    } else if (box && (event.key === "Delete" || event.key === "Backspace")) {
      state.boxes.splice(state.current, 1);
      state.current = state.boxes.length - 1;
    } else if (event.key === "Tab" && state.boxes.length > 1 && !event.shiftKey && state.current < state.boxes.length - 1) {
      state.current += 1;  // the next rectangle; past the last, Tab leaves the picture
    } else if (event.key === "Tab" && state.boxes.length > 1 && event.shiftKey && state.current > 0) {
      state.current -= 1;
    } else {
      return;
    }
    event.preventDefault();
    boxes();
  });
  function boxes() {
    changed();
    canvas.querySelectorAll(".box").forEach((b) => b.remove());
    state.boxes.forEach((box, n) => {
      const shown = document.createElement("div");
      shown.className = n === state.current ? "box current" : "box";
      Object.assign(shown.style, {
        left: `${box.x * 100}%`, top: `${box.y * 100}%`, width: `${box.width * 100}%`, height: `${box.height * 100}%`,
      });
      canvas.append(shown);
    });
    canvas.setAttribute("aria-description", `${state.boxes.length} rectangle(s) drawn`);
  }
  // Edges rounded, not sizes: a rectangle drawn to the image's edge ends at 1, never at 1.0001 (which is past it).
  const regions = () => state.boxes.map((b) => {
    const x = round(b.x), y = round(b.y);
    return { x, y, width: round(Math.min(1, round(b.x + b.width)) - x), height: round(Math.min(1, round(b.y + b.height)) - y) };
  });

  // --- actions: priced first, run once the person says yes -----------------------------------------------------
  const money = (value) => (typeof value === "number" ? `$${value.toFixed(2)}` : "");
  const worked = () => state.picked[state.picked.length - 1];
  // A result is named after the image it came from and the action: the earlier actions' words (and the numbers the
  // server adds) are dropped first, and the name kept within the server's 100 characters (240 bytes), so that a
  // chain of edits on one image does not grow its name until the server refuses it.
  const ACTIONS = /(-(edit|remix|reframe|background)(-\d+)*)+$/;
  const fileName = (image, what) => {
    const name = baseName(image.path || image.uuid).replace(/\.[a-z]+$/i, "").replace(ACTIONS, "");
    const stem = Array.from(name).slice(0, 99 - what.length); // whole characters: never half of a surrogate pair
    while (new TextEncoder().encode(`${stem.join("")}-${what}`).length > 240) stem.pop();
    return `${stem.join("")}-${what}`;
  };

  // Each paid action's call as the screen shows it now (or what is missing, in words): asked when it is priced, and
  // again whenever anything changes, so that a price shown is always for what is on the screen.
  const asks = {
    edit() {
      const image = worked();
      const prompt = $("edit-prompt").value.trim();
      if (!image || !state.boxes.length) return "Draw a rectangle on the part to change first.";
      if (!prompt) return "Say what to change in the marked part.";
      return { tool: "edit_image", args: { image: image.uuid, region: regions(), positivePrompt: prompt, fileName: fileName(image, "edit") },
        what: `Edit ${state.boxes.length} part(s) of image ${state.images.indexOf(image) + 1}: "${prompt}"` };
    },
    reframe() {
      const image = worked();
      const ratio = $("ratio").value;
      if (!image) return "Pick an image first.";
      return { tool: "reframe_image", args: { image: image.uuid, aspectRatio: ratio, fileName: fileName(image, "reframe") },
        what: `Reframe image ${state.images.indexOf(image) + 1} to ${ratio}` };
    },
    remix() {
      const image = worked();
      const prompt = image && ($("remix-prompt").value.trim() || image.whole);
      if (!prompt) return "Say what the remix should show.";
      if ([...prompt].length > FACTS.remixPromptMost) {  // a 4.0 prompt may be longer than remix takes
        return `Say what the remix should show, in at most ${FACTS.remixPromptMost} characters.`;
      }
      const strength = Number($("strength").value);
      return { tool: "remix_image", args: { image: [image.uuid], positivePrompt: prompt, remixStrength: strength, fileName: fileName(image, "remix") },
        what: `Remix image ${state.images.indexOf(image) + 1} at strength ${strength}: "${prompt}"` };
    },
    background() {
      const image = worked();
      const prompt = $("background-prompt").value.trim();
      if (!image || !prompt) return "Say what the new background shows.";
      return { tool: "replace_background", args: { image: image.uuid, positivePrompt: prompt, fileName: fileName(image, "background") },
        what: `Replace the background of image ${state.images.indexOf(image) + 1}: "${prompt}"` };
    },
  };
  const same = (ask, pending) => typeof ask === "object" && JSON.stringify(ask.args) === JSON.stringify(pending.args);

  const actions = {
    edit: () => price("edit"),
    reframe: () => price("reframe"),
    remix: () => price("remix"),
    background: () => price("background"),
    clear() {
      state.boxes = [];
      state.current = -1;
      boxes();
    },
    async download() {
      const image = worked();
      const name = baseName(image.path || `${image.uuid}.${(image.format || "jpg").toLowerCase()}`);
      const uri = image.uri || image.download || image.url;
      if (state.host.downloadFile && uri) {
        const link = { type: "resource_link", uri, name, mimeType: image.mime };
        refused(await request("ui/download-file", { contents: [link] }).catch((e) => ({ isError: true, why: e.message })));
      } else if (state.host.openLinks && (image.download || /^https:/.test(image.url || ""))) {
        refused(await request("ui/open-link", { url: image.download || image.url }).catch((e) => ({ isError: true, why: e.message })));
      } else {
        problem(image.path
          ? `This host cannot download files from the gallery; the image is saved as ${image.path}.`
          : "This host cannot download files from the gallery, and this server saved no file of the image.");
      }
    },
    async confirm() {
      const pending = state.pending;
      quote(null);
      if (!pending) return;
      const result = await call(pending.tool, { ...pending.args, approvedCost: pending.quote });
      if (!result) return;
      shown(result, pending.args);
      const out = result.structuredContent || {};
      state.done = [...state.done, { task: out.taskUUID, asked: `${pending.what} (${pending.tool}, ${money(pending.quote)})`, result: resultOf(out) }];
      told();
    },
    cancel() {
      quote(null);
      say("Nothing was sent.");
    },
    "close-compare"() {
      pick(state.picked[0]);
    },
  };

  const DONE_TOLD = 20;  // the latest actions the model is told of: a long session's context stays small
  const resultOf = (out) => {
    const made = (out.images || []).map((i) => i.path || i.imageUUID).join(", ");
    return out.status === "pending" ? `${made ? `${made}; ` : ""}the rest still rendering` : made || String(out.status);
  };
  // Each update replaces the last in the host, which gives the model only the latest: so each says them all, and a
  // pending one's images, once they come ("Check again"), are told in its line.
  function told() {
    const lines = state.done.slice(-DONE_TOLD).map((d, n) => `${n + 1}. ${d.asked}. Result: ${d.result}.`);
    tell(`In the gallery the user asked, in this order:\n${lines.join("\n")}`);
  }

  // A price is for the call as it was asked: a rectangle moved, a prompt changed or another image picked afterwards
  // would run what is no longer shown, so the price shown is taken back and must be asked for again.
  function changed() {
    if (!state.pending || same(asks[state.pending.action](), state.pending)) return;  // a focus, a Tab: the same
    quote(null);
    say("Changed since it was priced: nothing was sent. Ask for the price again.");
  }

  async function price(action) {
    const ask = asks[action]();
    if (typeof ask === "string") return problem(ask);
    const dry = await call(ask.tool, { ...ask.args, dryRun: true });
    if (!dry) return;
    // What the screen shows now: a rectangle or a word changed while the price was asked is not what was priced.
    if (!same(asks[action](), ask)) return say("Changed while it was priced: nothing was sent. Ask for the price again.");
    quote({ ...ask, action, quote: (dry.structuredContent || {}).quote });
  }

  function quote(pending) {
    state.pending = pending;
    $("quote").hidden = !pending;
    if (!pending) return;
    $("quote-text").textContent = `${pending.what}. It costs ${money(pending.quote)}; nothing is sent until you confirm.`;
    $("quote").querySelector("[data-do=confirm]").focus();
  }

  async function call(name, args, refused = () => {}) {
    say(`Asking for ${name}...`);
    problem("");
    try {
      const result = await request("tools/call", { name, arguments: args });
      if (!result || result.isError) {
        say("");  // "Asking for ..." no longer holds
        problem(result ? textOf(result) : "The host gave no answer.");
        if (result) refused(textOf(result));
        return null;
      }
      say("Done.");
      return result;
    } catch (error) {
      say("");
      problem(`The host could not call ${name}: ${error.message}`);
      return null;
    }
  }

  async function again(taskUUID) {
    // A task that failed meanwhile is an error result: its line for the model says so, not "still rendering".
    const result = await call("get_generation", { taskUUID }, (text) => {
      const asked = state.done.find((d) => d.task && d.task === taskUUID);
      if (!asked) return;
      asked.result = `get_generation answered: ${text.split("\n")[0].slice(0, 300)}`;
      told();
    });
    if (result) shown(result, {});
  }

  function refused(answer) {
    if (answer && answer.isError) problem(`The host did not do it${answer.why ? `: ${answer.why}` : " (refused or cancelled)"}.`);
  }

  function tell(text) {
    if (!state.host.updateModelContext) return;  // a host that keeps no context for the model is not asked
    request("ui/update-model-context", { content: [{ type: "text", text }] }).catch(() => {});
  }

  function say(text, button) {
    const status = $("status");
    status.textContent = text;
    if (button) {
      const more = document.createElement("button");
      more.type = "button";
      more.textContent = button.label;
      more.addEventListener("click", button.act);
      status.append(" ", more);
    }
  }

  function problem(text) {
    $("problem").textContent = text;
    $("problem").hidden = !text;
  }

  document.addEventListener("click", (event) => {
    const name = event.target.closest && event.target.closest("[data-do]")?.dataset.do;
    if (name && actions[name]) Promise.resolve(actions[name]()).catch((error) => problem(error.message));
  });

  // --- start ---------------------------------------------------------------------------------------------------
  for (const ratio of FACTS.ratios) $("ratio").append(new Option(ratio, ratio));
  Object.assign($("strength"), { min: FACTS.strength.min, max: FACTS.strength.max, value: FACTS.strength.default });
  const strengthShown = () => ($("strength-shown").textContent = $("strength").value);
  $("strength").addEventListener("input", strengthShown);
  strengthShown();
  $("work").addEventListener("input", changed);  // any of the actions' prompts, the ratio or the strength
  window.addEventListener("error", (event) => problem(`The gallery hit an error: ${event.message}`));

  request("ui/initialize", { appInfo: { name: "ideogram-gallery", version: "1.0.0" }, appCapabilities: {}, protocolVersion: PROTOCOL })
    .then((answer) => {
      state.host = (answer && answer.hostCapabilities) || {};
      context((answer && answer.hostContext) || {});
      notify("ui/notifications/initialized", {});
      // The height is the view's to ask for, once the host has started it: its content's, measured as the Apps SDK
      // does (scrollHeight never falls below the frame's height, so a view that grew had never shrunk).
      const root = document.documentElement;
      const tall = () => {
        const was = root.style.height;
        root.style.height = "max-content";
        const height = Math.ceil(root.getBoundingClientRect().height);
        root.style.height = was;
        return height;
      };
      let last = 0;
      const observer = new ResizeObserver(() => {
        const height = tall();
        if (height !== last) notify("ui/notifications/size-changed", { height: (last = height) });
      });
      observer.observe(root);
      observer.observe(document.body);
    })
    .catch((error) => problem(`The host did not start the gallery: ${error.message}`));
})();
