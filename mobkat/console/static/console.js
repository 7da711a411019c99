// mobkat console: member cards, wiring, peer log, transcripts, a text box and push-to-talk per member.
// Plain ES module, no build step. Wire frames: mobkat/console/wire.py. Hooks: data-testid (docs/console.md).

const RATE = 24000; // pcm16 24 kHz mono, everywhere
const FRAME_SAMPLES = 2400; // the page sends 100 ms audio frames
const MAX_LINES = 500;
const token = new URLSearchParams(location.search).get("token") || "";
const cardsBox = document.getElementById("cards");
const peerLog = document.getElementById("peer-log");
const errors = document.getElementById("errors");
const cards = new Map(); // member -> {root, status, meta, transcript, input, talk, card}
const players = new Map(); // member -> Player
const speech = new Map(); // `${member}/${response_id}` -> <p>
let ws = null;
let ctx = null;
let talk = null; // {member, stream, nodes, pending, sentSamples, cancelled}
let worklet = null;

function el(tag, attrs = {}, text = "") {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) node.setAttribute(key, value);
  if (text) node.textContent = text;
  return node;
}

function audio() {
  if (ctx === null) {
    // "playback": larger render buffers, so a busy machine does not drop microphone samples
    ctx = new AudioContext({ sampleRate: RATE, latencyHint: "playback" });
    // loaded now, so that a click on Talk connects the microphone at once (no lost first words)
    worklet = ctx.audioWorklet.addModule("/static/capture-worklet.js");
  }
  if (ctx.state === "suspended") ctx.resume();
  return ctx;
}
document.addEventListener("pointerdown", () => audio(), { capture: true });
document.addEventListener("keydown", () => audio(), { capture: true });

function send(frame) {
  if (ws !== null && ws.readyState === WebSocket.OPEN) ws.send(typeof frame === "string" || frame instanceof ArrayBuffer ? frame : JSON.stringify(frame));
}

// -- playback ------------------------------------------------------------------------------------------
class Player {
  // Schedules a member's audio chunks back to back and knows how much of each item was really heard.
  constructor(member) {
    this.member = member;
    this.chunks = []; // {item, start, n, stoppedAt}
    this.next = 0;
    this.item = null;
    this.response = null;
    this.contentIndex = 0;
    this.itemDone = 0; // samples of the current item already pruned from chunks
    this.playedSamples = 0; // every sample heard so far, all items
    this.receivedSamples = 0;
    this.cut = new Set(); // responses cut off: their late chunks are dropped
  }
  heardTime() {
    // The real playback cursor: the context time of the sample leaving the speakers now.
    const c = audio();
    if (c.getOutputTimestamp) {
      const ts = c.getOutputTimestamp();
      if (ts.contextTime > 0 && ts.performanceTime > 0) {
        return Math.min(c.currentTime, ts.contextTime + Math.max(0, (performance.now() - ts.performanceTime) / 1000));
      }
    }
    return Math.max(0, c.currentTime - (c.outputLatency || 0));
  }
  feed(frame) {
    if (this.cut.has(frame.response_id)) return;
    const c = audio();
    if (frame.item_id !== this.item) {
      this.item = frame.item_id;
      this.response = frame.response_id;
      this.contentIndex = frame.content_index || 0;
      this.itemDone = 0;
    }
    const bytes = Uint8Array.from(atob(frame.data), (ch) => ch.charCodeAt(0));
    const pcm = new Int16Array(bytes.buffer, 0, bytes.length >> 1);
    const samples = new Float32Array(pcm.length);
    for (let i = 0; i < pcm.length; i++) samples[i] = pcm[i] / 32768;
    const buffer = c.createBuffer(1, samples.length, RATE);
    buffer.copyToChannel(samples, 0);
    const source = c.createBufferSource();
    source.buffer = buffer;
    source.connect(c.destination);
    const start = Math.max(this.next, c.currentTime + 0.03);
    source.start(start);
    this.next = start + samples.length / RATE;
    this.chunks.push({ item: frame.item_id, start, n: samples.length, source, stoppedAt: null });
    this.receivedSamples += samples.length;
  }
  heardOf(chunk, t) {
    const end = chunk.stoppedAt === null ? t : Math.min(t, chunk.stoppedAt);
    return Math.max(0, Math.min(chunk.n, Math.floor((end - chunk.start) * RATE)));
  }
  tick() {
    // Moves finished chunks into the counters; returns total ms heard.
    const t = this.heardTime();
    const keep = [];
    let live = 0;
    for (const chunk of this.chunks) {
      const over = chunk.stoppedAt !== null ? chunk.stoppedAt <= t : chunk.start + chunk.n / RATE <= t;
      const heard = this.heardOf(chunk, t);
      if (over) {
        this.playedSamples += heard;
        if (chunk.item === this.item) this.itemDone += heard;
      } else {
        keep.push(chunk);
        live += heard;
      }
    }
    this.chunks = keep;
    return Math.floor((this.playedSamples + live) / (RATE / 1000));
  }
  playing() {
    return this.chunks.some((chunk) => chunk.stoppedAt === null) && this.heardTime() < this.next;
  }
  stop() {
    // Silence now; returns the cursor in the item that was playing.
    this.tick();
    const t = this.heardTime();
    let heard = this.itemDone;
    for (const chunk of this.chunks) {
      if (chunk.item === this.item) heard += this.heardOf(chunk, t);
      if (chunk.stoppedAt === null) {
        chunk.stoppedAt = t;
        try { chunk.source.stop(); } catch (e) { /* not started yet */ }
      }
    }
    this.next = 0;
    if (this.response) this.cut.add(this.response);
    return { item_id: this.item, content_index: this.contentIndex, audio_played_ms: Math.floor(heard / (RATE / 1000)) };
  }
}

function player(member) {
  if (!players.has(member)) players.set(member, new Player(member));
  return players.get(member);
}

setInterval(() => {
  for (const [member, p] of players) {
    const card = cards.get(member);
    if (!card) continue;
    card.root.dataset.playedMs = String(p.tick());
    card.root.dataset.receivedMs = String(Math.floor(p.receivedSamples / (RATE / 1000)));
    card.root.dataset.playing = String(p.playing());
  }
}, 50);

// -- capture -------------------------------------------------------------------------------------------
async function startTalk(member) {
  const c = audio();
  await c.resume();
  const p = players.get(member);
  if (p && p.playing() && p.item) {
    const cursor = p.stop(); // barge-in: keep exactly what was heard
    send({ type: "barge_in", member, ...cursor });
    cards.get(member).root.dataset.bargeInMs = String(cursor.audio_played_ms);
  }
  send({ type: "talk", member, on: true });
  const session = { member, stream: null, nodes: [], pending: [], pendingSamples: 0, sentSamples: 0, cancelled: false };
  talk = session;
  markTalking(member, true);
  const stream = await navigator.mediaDevices.getUserMedia({
    audio: { echoCancellation: false, noiseSuppression: false, autoGainControl: false, channelCount: 1 },
  });
  if (session.cancelled) { stream.getTracks().forEach((track) => track.stop()); return; }
  await worklet;
  const source = c.createMediaStreamSource(stream);
  const node = new AudioWorkletNode(c, "pcm-capture");
  const mute = c.createGain();
  mute.gain.value = 0;
  node.port.onmessage = (event) => capture(session, event.data);
  source.connect(node);
  node.connect(mute);
  mute.connect(c.destination);
  session.stream = stream;
  session.nodes = [source, node, mute];
  if (session.cancelled) release(session);
}

function capture(session, block) {
  if (session.cancelled) return;
  session.pending.push(block);
  session.pendingSamples += block.length;
  while (session.pendingSamples >= FRAME_SAMPLES) flush(session, FRAME_SAMPLES);
}

function flush(session, count) {
  const out = new Int16Array(count);
  let filled = 0;
  while (filled < count && session.pending.length) {
    const head = session.pending[0];
    const take = Math.min(head.length, count - filled);
    for (let i = 0; i < take; i++) out[filled + i] = Math.max(-32768, Math.min(32767, Math.round(head[i] * 32768)));
    filled += take;
    if (take === head.length) session.pending.shift(); else session.pending[0] = head.subarray(take);
  }
  session.pendingSamples -= filled;
  session.sentSamples += filled;
  if (filled) send(out.buffer.slice(0, filled * 2));
  cards.get(session.member).root.dataset.sentMs = String(Math.floor(session.sentSamples / (RATE / 1000)));
}

function release(session) {
  for (const node of session.nodes) node.disconnect();
  if (session.stream) session.stream.getTracks().forEach((track) => track.stop());
}

function stopTalk() {
  const session = talk;
  if (session === null) return;
  talk = null;
  if (session.pendingSamples > 0) flush(session, session.pendingSamples);
  session.cancelled = true;
  release(session);
  send({ type: "talk", member: session.member, on: false });
  markTalking(session.member, false);
}

function markTalking(member, on) {
  const card = cards.get(member);
  if (!card) return;
  card.talk.setAttribute("aria-pressed", String(on));
  card.talk.textContent = on ? "Stop talking" : "Talk";
  card.root.dataset.talking = String(on);
}

async function toggleTalk(member) {
  const mine = talk !== null && talk.member === member;
  if (talk !== null) stopTalk();
  if (!mine) {
    try {
      await startTalk(member);
    } catch (err) {
      stopTalk();
      showError({ code: "microphone", message: String(err), member });
    }
  }
}

// -- rendering -----------------------------------------------------------------------------------------
function upsertCard(card) {
  let entry = cards.get(card.name);
  if (!entry) {
    const root = el("section", { class: "card", "data-testid": `member-${card.name}` });
    const head = el("header");
    head.append(el("h2", {}, card.name));
    const status = el("span", { class: "status", "data-testid": `status-${card.name}` });
    head.append(status);
    const meta = el("dl", { class: "meta" });
    const transcript = el("div", { class: "transcript", "data-testid": `transcript-${card.name}`, "aria-live": "polite" });
    const controls = el("div", { class: "controls" });
    const input = el("input", { type: "text", "data-testid": `say-${card.name}`, placeholder: `Say something to ${card.name} (Enter sends)`, maxlength: "4000" });
    input.addEventListener("keydown", (event) => {
      if (event.key === "Enter" && input.value.trim()) {
        send({ type: "say", member: card.name, text: input.value.trim() });
        input.value = "";
      }
    });
    const talkButton = el("button", { type: "button", "data-testid": `talk-${card.name}`, "aria-pressed": "false" }, "Talk");
    talkButton.addEventListener("click", () => toggleTalk(card.name));
    controls.append(input, talkButton);
    root.append(head, meta, transcript, controls);
    cardsBox.append(root);
    entry = { root, status, meta, transcript, input, talk: talkButton };
    cards.set(card.name, entry);
  }
  entry.card = card;
  entry.root.dataset.status = card.status;
  entry.status.textContent = card.status;
  entry.status.className = `status ${card.status}`;
  entry.talk.hidden = !card.live_capable;
  entry.talk.disabled = Boolean(card.talk_blocked);  // e.g. the rpc server runs without --live-ws
  entry.talk.title = card.talk_blocked ? `Talk is off: ${card.talk_blocked}` : "";
  entry.root.dataset.talkBlocked = card.talk_blocked || "";
  entry.meta.replaceChildren();
  for (const [key, value] of [["profile", card.profile], ["model", card.model], ["live", card.live || "—"], ["generation", String(card.generation)], ...(card.talk_blocked ? [["talk", `off: ${card.talk_blocked}`]] : [])]) {
    entry.meta.append(el("dt", {}, key), el("dd", { "data-field": key }, value));
  }
}

function addLine(member, role, text) {
  const card = cards.get(member);
  if (!card) return null;
  const line = el("p", { class: role, "data-who": role === "assistant" ? member : role }, text);
  card.transcript.append(line);
  while (card.transcript.childElementCount > MAX_LINES) card.transcript.firstElementChild.remove();
  card.transcript.scrollTop = card.transcript.scrollHeight;
  return line;
}

function speechLine(frame) {
  const key = `${frame.member}/${frame.response_id}`;
  let line = speech.get(key);
  if (!line || !line.isConnected) {
    line = addLine(frame.member, "assistant", "");
    if (line === null) return;
    speech.set(key, line);
  }
  if (frame.type === "delta") line.textContent += frame.text;
  else line.textContent = frame.text;
  if (frame.type === "cut") line.classList.add("cut");
  if (frame.type === "final" || frame.type === "cut") line.dataset.final = "true";
}

function renderWiring(edges) {
  const list = document.getElementById("wiring");
  list.replaceChildren(...edges.map(([a, b]) => el("li", {}, `${a} ↔ ${b}`)));
  if (!edges.length) list.append(el("li", {}, "no wiring"));
}

function firstWords(text, n = 12) {
  const words = text.split(/\s+/).filter(Boolean);
  return words.slice(0, n).join(" ") + (words.length > n ? " …" : "");
}

function showError(frame) {
  const who = frame.member ? `${frame.member}: ` : "";
  errors.append(el("li", { "data-code": frame.code }, `${who}${frame.code}: ${frame.message}`));
  while (errors.childElementCount > MAX_LINES) errors.firstElementChild.remove();
}

function handle(frame) {
  switch (frame.type) {
    case "hello":
      document.querySelector("[data-testid=mob-id]").textContent = frame.mob_id;
      frame.members.forEach(upsertCard);
      renderWiring(frame.edges);
      break;
    case "card": upsertCard(frame); break;
    case "gone": cards.get(frame.member)?.root.remove(); cards.delete(frame.member); break;
    case "wiring": renderWiring(frame.edges); break;
    case "peer": {
      const item = el("li", { class: frame.rejected ? "rejected" : "" },
        `${frame.sender} → ${frame.receiver} [${frame.kind}] ${firstWords(frame.preview)}${frame.rejected ? ` (rejected: ${frame.rejected})` : ""}`);
      peerLog.append(item);
      while (peerLog.childElementCount > MAX_LINES) peerLog.firstElementChild.remove();
      break;
    }
    case "line": addLine(frame.member, frame.role, frame.text); break;
    case "delta": case "final": case "cut": speechLine(frame); break;
    case "audio": player(frame.member).feed(frame); break;
    case "interrupted": {
      // The provider cut the member off (its VAD heard the user): report what this page really played.
      const p = players.get(frame.member);
      if (p && p.playing() && p.item) send({ type: "truncate", member: frame.member, ...p.stop() });
      break;
    }
    case "truncated": {
      const card = cards.get(frame.member);
      if (card) { card.root.dataset.truncatedMs = String(frame.audio_played_ms); card.root.dataset.heard = frame.heard; }
      break;
    }
    case "error": showError(frame); break;
    default: break;
  }
}

function connect() {
  const scheme = location.protocol === "https:" ? "wss" : "ws";
  ws = new WebSocket(`${scheme}://${location.host}/ws?token=${encodeURIComponent(token)}`);
  ws.binaryType = "arraybuffer";
  const conn = document.querySelector("[data-testid=connection]");
  ws.onopen = () => { document.body.dataset.connected = "true"; conn.textContent = "connected"; };
  ws.onclose = (event) => {
    document.body.dataset.connected = "false";
    conn.textContent = `disconnected (${event.code}${event.reason ? `: ${event.reason}` : ""})`;
  };
  ws.onmessage = (event) => { if (typeof event.data === "string") handle(JSON.parse(event.data)); };
}

audio(); // suspended until the first click or key (autoplay policy); the capture worklet loads meanwhile
connect();
