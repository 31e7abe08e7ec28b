// commbase video client: one ES module, no build step, served at /video/static/client.js.
//
// It joins a video room with a JoinGrant (the guest page asks POST /v1/video/guest/join,
// the agent page's Join button POST /dashboard/video/{room}/join with the dashboard
// session's CSRF token; opening either page joins nothing), opens the signalling WebSocket
// (signal_url?access_token=...), publishes camera and microphone, and keeps one
// RTCPeerConnection per peer (a mesh). The participant that receives `welcome` with peers
// offers to each of them (the newcomer offers); the others answer. Renegotiation (screen
// share) follows the "perfect negotiation" pattern so two offers that cross are resolved:
// the peer with the greater participant id is the polite one and rolls its own offer back.
//
// The grant is kept in sessionStorage (this tab only): a reload resumes it and the server
// counts the socket opened again as one reconnection of the same participant. A guest's
// page asks POST /v1/video/guest/join with the earlier access_token; an agent's page uses
// the stored grant as it is (its token is still valid unless the member joined again
// elsewhere, which closes this socket with 4409 or refuses it with 4401: Join again).
//
// Leaving: only Hang up sends {"type":"leave"} (End call ends the room for everyone).
// Closing the tab or navigating away does not: "pagehide" fires on a reload too
// (event.persisted is false for both) and nothing in it tells the two apart, so a
// leave sent there would throw a reloading participant out of the room. The browser
// closes the socket when the page goes; the server sees a participant whose socket is
// closed and, past its grace period, treats it as gone (it is the server's to decide).
// A page restored from the back/forward cache finds its socket closed and reconnects
// through onClose's retry like after any network loss.
//
// Every 5 s it reads getStats() and posts to POST /v1/video/rooms/{id}/quality:
//   rtt_ms        currentRoundTripTime of the selected candidate pair (s -> ms)
//   jitter_ms     inbound-rtp jitter (s -> ms), the audio stream's when there is one
//   packet_loss   packetsLost / (packetsLost + packetsReceived) over the last interval
//   bitrate_kbps  inbound bytesReceived delta * 8 / elapsed ms
//   frame_width, frame_height, fps   of the camera video received (not a shared screen)
//   mos           estimated with a simplified ITU-T G.107 E-model (see estimateMos).
// Several peers: RTT and jitter are averaged, loss and bitrate summed over all streams.
// A figure the browser did not report is left out of the sample (never sent as 0), and
// the MOS is estimated only when RTT, jitter and packet loss are all known.

const STATS_INTERVAL_MS = 5000;
const PING_INTERVAL_MS = 20000;
const STORAGE_PREFIX = "commbase.video.grant:";
// Close codes of the signalling socket that must not be retried.
const CLOSE_AUTH = 4401;
const CLOSE_FORBIDDEN = 4403;
const CLOSE_REPLACED = 4409;
const CLOSE_GONE = 4410; // the room ended, or this participant left it

/**
 * Estimated MOS (1..4.5) from network figures, a simplification of the ITU-T G.107
 * E-model as commonly used for VoIP monitoring:
 *   effective latency  Le = rtt/2 + 2*jitter + 10 ms   (one way, jitter buffer, codec)
 *   R = 93.2 - Le/40               when Le < 160 ms
 *   R = 93.2 - (Le - 120)/10       otherwise
 *   R = R - 2.5 * loss%            (loss% = packet loss in percent)
 *   MOS = 1 + 0.035 R + 7e-6 R (R - 60) (100 - R), with R clamped to 0..100
 * It rates the network path, not the codec or the picture.
 */
export function estimateMos(rttMs, jitterMs, lossFraction) {
  const latency = (rttMs || 0) / 2 + 2 * (jitterMs || 0) + 10;
  let r = latency < 160 ? 93.2 - latency / 40 : 93.2 - (latency - 120) / 10;
  r -= 2.5 * 100 * (lossFraction || 0);
  r = Math.min(100, Math.max(0, r));
  const mos = 1 + 0.035 * r + 7e-6 * r * (r - 60) * (100 - r);
  return Math.round(Math.min(4.5, Math.max(1, mos)) * 100) / 100;
}

/** Figures of one getStats() report, cumulative counters kept for the next delta. */
export function readReport(report) {
  const out = { rtt: null, jitter: [], audioJitter: [], lost: 0, received: 0, bytes: 0, video: null };
  let selectedPair = null;
  report.forEach((s) => {
    if (s.type === "transport" && s.selectedCandidatePairId) selectedPair = s.selectedCandidatePairId;
  });
  report.forEach((s) => {
    if (s.type === "candidate-pair") {
      const chosen = selectedPair ? s.id === selectedPair : s.nominated && s.state === "succeeded";
      if (chosen && typeof s.currentRoundTripTime === "number") out.rtt = s.currentRoundTripTime * 1000;
    } else if (s.type === "inbound-rtp") {
      if (typeof s.jitter === "number") (s.kind === "audio" ? out.audioJitter : out.jitter).push(s.jitter * 1000);
      out.lost += Math.max(0, s.packetsLost || 0);
      out.received += s.packetsReceived || 0;
      out.bytes += s.bytesReceived || 0;
      // The camera is a peer's first video m-line (a shared screen comes later).
      const order = Number.isFinite(Number(s.mid)) ? Number(s.mid) : Infinity;
      if (s.kind === "video" && s.frameWidth && (!out.video || order < out.video.order)) {
        out.video = { width: s.frameWidth, height: s.frameHeight || 0, fps: s.framesPerSecond ?? null, order };
      }
    }
  });
  out.jitterMs = mean(out.audioJitter.length ? out.audioJitter : out.jitter);
  return out;
}

function mean(values) {
  return values.length ? values.reduce((a, b) => a + b, 0) / values.length : null;
}

/** One quality sample from this interval's reports and the previous ones (per peer). */
export function summarize(current, previous, elapsedMs) {
  const rtts = current.map((c) => c.rtt).filter((v) => v !== null);
  const jitters = current.map((c) => c.jitterMs).filter((v) => v !== null);
  let lost = 0;
  let received = 0;
  let bytes = 0;
  current.forEach((c, i) => {
    const p = previous[i] || { lost: 0, received: 0, bytes: 0 };
    lost += Math.max(0, c.lost - p.lost);
    received += Math.max(0, c.received - p.received);
    bytes += Math.max(0, c.bytes - p.bytes);
  });
  if (!rtts.length && !received) return null;
  // Several peers: the largest camera picture received.
  const video = current.map((c) => c.video).filter(Boolean).sort((a, b) => b.width * b.height - a.width * a.height)[0] || null;
  const rtt = mean(rtts);
  const jitter = mean(jitters);
  // No packet received or lost in the interval: the loss is unknown, not 0.
  const loss = lost + received ? lost / (lost + received) : null;
  const sample = {};
  if (rtt !== null) sample.rtt_ms = Math.round(rtt);
  if (jitter !== null) sample.jitter_ms = Math.round(jitter);
  if (loss !== null) sample.packet_loss = round(loss, 4);
  if (elapsedMs > 0) sample.bitrate_kbps = Math.round((bytes * 8) / elapsedMs);
  if (video) {
    sample.frame_width = video.width;
    sample.frame_height = video.height;
    if (video.fps !== null) sample.fps = round(video.fps, 1);
  }
  if (rtt !== null && jitter !== null && loss !== null) sample.mos = estimateMos(rtt, jitter, loss);
  return sample;
}

function round(value, digits) {
  const f = 10 ** digits;
  return Math.round(value * f) / f;
}

/**
 * The WebSocket address of a grant's signal_url, with its token. The page and the API are
 * the same commbase, and the pages' Content-Security-Policy allows connections to 'self'
 * only: the socket goes to this page's origin, at the signal URL's path.
 */
export function socketUrl(signalUrl, accessToken, here = window.location) {
  const url = new URL(new URL(signalUrl, here.href).pathname, here.href);
  url.protocol = here.protocol === "https:" ? "wss:" : "ws:";
  url.searchParams.set("access_token", accessToken);
  return url.toString();
}

function storedGrant(key) {
  try {
    const grant = JSON.parse(sessionStorage.getItem(STORAGE_PREFIX + key) || "null");
    if (grant && grant.access_token && Date.parse(grant.expires_at) > Date.now()) return grant;
  } catch (_) {
    /* a damaged entry is a missing one */
  }
  sessionStorage.removeItem(STORAGE_PREFIX + key);
  return null;
}

function keepGrant(key, grant) {
  sessionStorage.setItem(STORAGE_PREFIX + key, JSON.stringify(grant));
}

function forgetGrant(key) {
  sessionStorage.removeItem(STORAGE_PREFIX + key);
}

async function problemText(response) {
  try {
    const problem = await response.json();
    return problem.detail || problem.title || response.statusText;
  } catch (_) {
    return response.statusText || String(response.status);
  }
}

/** One participant's call: the socket, the local media and a connection per peer. */
export class VideoCall {
  constructor(grant, ui) {
    this.grant = grant;
    this.ui = ui;
    this.me = grant.participant_id;
    this.iceServers = grant.ice_servers || [];
    this.peers = new Map();
    this.local = null;
    this.screen = null;
    this.socket = null;
    this.queue = Promise.resolve();
    this.closed = false;
    this.retries = 0;
    this.samples = 0;
    this.previous = new Map();
    this.lastStatsAt = 0;
    this.timers = [];
  }

  async start() {
    this.local = await navigator.mediaDevices.getUserMedia({ audio: true, video: { width: 640, height: 480 } });
    this.ui.showLocal(this.local);
    this.connect();
    this.timers.push(setInterval(() => this.send({ type: "ping" }), PING_INTERVAL_MS));
    this.timers.push(setInterval(() => this.postStats(), STATS_INTERVAL_MS));
  }

  connect() {
    const socket = new WebSocket(socketUrl(this.grant.signal_url, this.grant.access_token));
    this.socket = socket;
    this.ui.status("Connecting…");
    socket.onmessage = (event) => {
      let message;
      try {
        message = JSON.parse(event.data);
      } catch (_) {
        return;
      }
      // One message at a time: a candidate must not overtake the offer before it.
      this.queue = this.queue.then(() => this.onMessage(message)).catch((error) => console.warn("video:", error));
    };
    socket.onclose = (event) => this.onClose(socket, event);
  }

  onClose(socket, event) {
    if (socket !== this.socket || this.closed) return;
    if (event.code === CLOSE_REPLACED) {
      this.stop("This call continues in another window.");
    } else if (event.code === CLOSE_AUTH || event.code === CLOSE_FORBIDDEN) {
      this.ui.forget();
      this.stop("This link no longer admits you to the call.", { refused: true });
    } else if (event.code === CLOSE_GONE || event.code === 1000) {
      this.stop("The call has ended.", { ended: true });
    } else if (event.code === 1008 || event.code === 1009) {
      this.stop(`The server closed the call's connection (${event.reason || event.code}).`);
    } else {
      // Network trouble or a server restart: the same token, the same participant.
      this.retries += 1;
      const wait = Math.min(10000, 500 * 2 ** Math.min(this.retries, 5));
      this.ui.status("Connection lost; reconnecting…");
      setTimeout(() => !this.closed && this.connect(), wait);
    }
  }

  send(message) {
    if (this.socket && this.socket.readyState === WebSocket.OPEN) this.socket.send(JSON.stringify(message));
  }

  async onMessage(message) {
    switch (message.type) {
      case "welcome":
        this.retries = 0;
        this.me = message.participant_id;
        if (message.ice_servers) this.iceServers = message.ice_servers;
        for (const pid of [...this.peers.keys()]) this.dropPeer(pid);
        this.ui.status(message.peers.length ? "Connecting to the call…" : "Waiting for the other side to join…");
        for (const peer of message.peers) this.peerFor(peer.participant_id, peer, true);
        break;
      case "peer_joined":
        // The same participant again (a reload): its old connection is dead.
        this.dropPeer(message.participant.participant_id);
        this.ui.status(`${message.participant.name || message.participant.role} joined.`);
        this.ui.peerInfo(message.participant);
        break;
      case "peer_left":
        this.dropPeer(message.participant_id);
        this.ui.status("The other side left; waiting for them to return…");
        break;
      case "offer":
      case "answer":
        await this.onDescription(message);
        break;
      case "candidate":
        await this.onCandidate(message);
        break;
      case "screen_share":
        this.ui.remoteScreen(message.from, message.active);
        break;
      case "room_ended":
        this.stop("The call has ended.", { ended: true });
        break;
      case "error":
        this.ui.status(message.detail || message.title || "Signalling error");
        break;
      default:
        break;
    }
  }

  /** The connection to one peer, made on first use; the offering side adds its tracks at once. */
  peerFor(pid, info, offer) {
    let peer = this.peers.get(pid);
    if (peer) return peer;
    const pc = new RTCPeerConnection({ iceServers: this.iceServers });
    peer = { pid, pc, info: info || null, makingOffer: false, ignoreOffer: false, polite: String(this.me) > String(pid), streams: [] };
    this.peers.set(pid, peer);
    if (info) this.ui.peerInfo(info);
    pc.onicecandidate = ({ candidate }) => {
      if (candidate) this.send({ type: "candidate", to: pid, candidate: candidate.toJSON() });
    };
    pc.onnegotiationneeded = async () => {
      try {
        peer.makingOffer = true;
        await pc.setLocalDescription();
        this.send({ type: "offer", to: pid, sdp: pc.localDescription.sdp });
      } catch (error) {
        console.warn("video: offer failed", error);
      } finally {
        peer.makingOffer = false;
      }
    };
    pc.ontrack = ({ track, streams }) => this.ui.remoteTrack(peer, track, streams[0]);
    pc.onconnectionstatechange = () => {
      if (pc.connectionState === "connected") this.ui.status("Connected.");
      if (pc.connectionState === "failed") pc.restartIce();
    };
    if (offer) this.addLocalTracks(peer);
    return peer;
  }

  addLocalTracks(peer) {
    const senders = peer.pc.getSenders().map((s) => s.track);
    for (const track of this.local.getTracks()) if (!senders.includes(track)) peer.pc.addTrack(track, this.local);
    if (this.screen) {
      for (const track of this.screen.getTracks()) if (!senders.includes(track)) peer.pc.addTrack(track, this.screen);
    }
  }

  async onDescription(message) {
    const peer = this.peerFor(message.from, null, false);
    const pc = peer.pc;
    const description = { type: message.type, sdp: message.sdp };
    if (message.type === "offer") {
      const collision = peer.makingOffer || pc.signalingState !== "stable";
      peer.ignoreOffer = !peer.polite && collision;
      if (peer.ignoreOffer) return;
    }
    await pc.setRemoteDescription(description);
    if (message.type === "offer") {
      // Tracks added now reuse the transceivers the offer made (sendrecv in the answer).
      this.addLocalTracks(peer);
      await pc.setLocalDescription();
      this.send({ type: "answer", to: message.from, sdp: pc.localDescription.sdp });
    }
  }

  async onCandidate(message) {
    const peer = this.peers.get(message.from);
    if (!peer) return;
    try {
      await peer.pc.addIceCandidate(message.candidate);
    } catch (error) {
      if (!peer.ignoreOffer) throw error;
    }
  }

  dropPeer(pid) {
    const peer = this.peers.get(pid);
    if (!peer) return;
    peer.pc.close();
    this.peers.delete(pid);
    this.previous.delete(pid);
    this.ui.dropPeer(pid);
  }

  /** Share a screen (or a window or tab): a new video track, renegotiated with every peer. */
  async shareScreen() {
    if (this.screen) return this.stopScreen();
    this.screen = await navigator.mediaDevices.getDisplayMedia({ video: true, audio: false });
    const [track] = this.screen.getVideoTracks();
    track.addEventListener("ended", () => this.stopScreen());
    for (const peer of this.peers.values()) peer.pc.addTrack(track, this.screen);
    this.send({ type: "screen_share", active: true });
    this.ui.sharing(true, this.screen);
  }

  stopScreen() {
    if (!this.screen) return;
    const tracks = this.screen.getTracks();
    for (const peer of this.peers.values()) {
      for (const sender of peer.pc.getSenders()) if (tracks.includes(sender.track)) peer.pc.removeTrack(sender);
    }
    tracks.forEach((t) => t.stop());
    this.screen = null;
    this.send({ type: "screen_share", active: false });
    this.ui.sharing(false, null);
  }

  /** Read every peer's getStats() and post one sample (nothing before media flows). */
  async postStats() {
    if (this.closed || !this.peers.size) return;
    const now = performance.now();
    const elapsed = this.lastStatsAt ? now - this.lastStatsAt : STATS_INTERVAL_MS;
    const current = [];
    const previous = [];
    for (const [pid, peer] of this.peers) {
      const figures = readReport(await peer.pc.getStats());
      current.push(figures);
      previous.push(this.previous.get(pid));
      this.previous.set(pid, figures);
    }
    this.lastStatsAt = now;
    const sample = summarize(current, previous, elapsed);
    if (!sample) return;
    this.ui.quality(sample);
    const response = await fetch(`/v1/video/rooms/${encodeURIComponent(this.grant.room_id)}/quality`, {
      method: "POST",
      headers: { Authorization: `Bearer ${this.grant.access_token}`, "Content-Type": "application/json" },
      body: JSON.stringify(sample),
    });
    if (response.ok) this.samples += 1;
    this.ui.sampleSent(this.samples, response.ok ? null : await problemText(response));
  }

  /** Leave the room (hang up): the others see peer_left; the room lives on. */
  leave() {
    this.send({ type: "leave" });
    this.stop("You left the call.", { ended: true });
  }

  /** End the room for everyone (an agent's access token). */
  async end() {
    const response = await fetch(`/v1/video/rooms/${encodeURIComponent(this.grant.room_id)}/end`, {
      method: "POST",
      headers: { Authorization: `Bearer ${this.grant.access_token}` },
    });
    if (!response.ok) throw new Error(await problemText(response));
    this.stop("The call has ended.", { ended: true });
  }

  stop(text, { ended = false, refused = false } = {}) {
    if (this.closed) return;
    this.closed = true;
    this.timers.forEach(clearInterval);
    for (const pid of [...this.peers.keys()]) this.dropPeer(pid);
    if (this.socket && this.socket.readyState <= WebSocket.OPEN) this.socket.close(1000);
    for (const stream of [this.local, this.screen]) if (stream) stream.getTracks().forEach((t) => t.stop());
    this.screen = null;
    this.ui.ended(text, { ended, refused });
  }
}

// ------------------------------------------------------------------ the page

function element(tag, attributes = {}, text = "") {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attributes)) el.setAttribute(k, v);
  if (text) el.textContent = text;
  return el;
}

/** What the call shows on the page: videos, status line, buttons, figures. */
class PageView {
  constructor(root, config) {
    this.root = root;
    this.config = config;
    this.remote = root.querySelector("[data-remote]");
    this.statusLine = root.querySelector("[data-status]");
    this.names = new Map();
  }

  status(text) {
    this.statusLine.textContent = text;
  }

  showLocal(stream) {
    const video = this.root.querySelector("[data-local]");
    video.srcObject = stream;
  }

  peerInfo(info) {
    this.names.set(info.participant_id, info);
  }

  remoteTrack(peer, track, stream) {
    if (!stream) stream = new MediaStream([track]);
    let video = this.remote.querySelector(`video[data-stream="${CSS.escape(stream.id)}"]`);
    if (!video) {
      const info = this.names.get(peer.pid) || peer.info || {};
      // A peer's first stream is its camera; a later one is a shared screen.
      const kind = peer.streams.length ? "screen" : "camera";
      peer.streams.push(stream.id);
      const who = info.name || info.role || "participant";
      const figure = element("figure", { class: `tile ${kind}`, "data-peer": peer.pid });
      video = element("video", {
        autoplay: "",
        playsinline: "",
        "data-stream": stream.id,
        "data-kind": kind,
        "data-peer": peer.pid,
        "data-role": info.role || "",
        "aria-label": kind === "camera" ? `Video of ${who}` : `Screen shared by ${who}`,
      });
      video.srcObject = stream;
      figure.append(video, element("figcaption", {}, kind === "camera" ? who : `${who}'s screen`));
      this.remote.append(figure);
      stream.addEventListener("removetrack", () => {
        if (!stream.getTracks().length) {
          figure.remove();
          peer.streams = peer.streams.filter((id) => id !== stream.id);
        }
      });
    }
    video.play().catch(() => {});
  }

  remoteScreen(pid, active) {
    const info = this.names.get(pid) || {};
    this.status(active ? `${info.name || info.role || "The other side"} is sharing a screen.` : "Screen sharing stopped.");
  }

  dropPeer(pid) {
    this.remote.querySelectorAll(`figure[data-peer="${CSS.escape(String(pid))}"]`).forEach((f) => {
      const video = f.querySelector("video");
      if (video) video.srcObject = null;
      f.remove();
    });
  }

  sharing(active, stream) {
    const button = this.root.querySelector("[data-action=screen]");
    button.textContent = active ? "Stop sharing" : "Share screen";
    button.setAttribute("aria-pressed", String(active));
    const preview = this.root.querySelector("[data-screen-preview]");
    preview.hidden = !active;
    preview.srcObject = stream;
  }

  quality(sample) {
    const set = (name, text) => {
      const el = this.root.querySelector(`[data-figure="${name}"]`);
      if (el) el.textContent = text;
    };
    const known = (value, text) => (value === undefined ? "–" : text);
    set("rtt", known(sample.rtt_ms, `${sample.rtt_ms} ms`));
    set("jitter", known(sample.jitter_ms, `${sample.jitter_ms} ms`));
    set("loss", known(sample.packet_loss, `${(sample.packet_loss * 100).toFixed(2)} %`));
    set("bitrate", known(sample.bitrate_kbps, `${sample.bitrate_kbps} kbit/s`));
    set("resolution", sample.frame_width ? `${sample.frame_width}×${sample.frame_height}` : "–");
    set("fps", known(sample.fps, String(sample.fps)));
    set("mos", known(sample.mos, sample.mos?.toFixed(2)));
  }

  sampleSent(count, error) {
    const el = this.root.querySelector("[data-samples]");
    el.dataset.samples = String(count);
    el.textContent = error ? `Quality report refused: ${error}` : `${count} quality reports sent`;
  }

  forget() {
    forgetGrant(this.config.storage_key);
  }

  ended(text, { ended, refused }) {
    this.status(text);
    this.root.dataset.state = ended ? "ended" : refused ? "refused" : "closed";
    this.root.querySelectorAll("[data-in-call]").forEach((el) => (el.hidden = true));
    if (ended) {
      forgetGrant(this.config.storage_key);
      this.root.querySelectorAll("[data-after-call]").forEach((el) => (el.hidden = false));
    } else if (refused) {
      // The stored grant no longer admits this page: it may join afresh.
      const join = this.root.querySelector("[data-join]");
      if (join) {
        join.hidden = false;
        join.querySelector("button").disabled = false;
      }
    }
  }
}

/** A guest's grant: the link's token, and the earlier access token to resume (a reload). */
async function guestGrant(config, { name = null, resume = null } = {}) {
  const body = { token: config.guest_token };
  if (name) body.name = name;
  if (resume) body.access_token = resume;
  const response = await fetch("/v1/video/guest/join", {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify(body),
  });
  if (!response.ok) throw new Error(await problemText(response));
  return response.json();
}

/** An agent's grant: the page's Join form, posted with the dashboard session's CSRF token. */
async function agentGrant(form) {
  const response = await fetch(form.action, {
    method: "POST",
    headers: { Accept: "application/json" },
    body: new URLSearchParams(new FormData(form)),
    credentials: "same-origin",
  });
  if (!response.ok) throw new Error(await problemText(response));
  return response.json();
}

async function rate(call, form, view) {
  const data = new FormData(form);
  const body = { rating: Number(data.get("rating")) };
  if (data.get("comment")) body.comment = String(data.get("comment"));
  const response = await fetch(`/v1/video/rooms/${encodeURIComponent(call.grant.room_id)}/rating`, {
    method: "POST",
    headers: { Authorization: `Bearer ${call.grant.access_token}`, "Content-Type": "application/json" },
    body: JSON.stringify(body),
  });
  const note = form.querySelector("[data-rating-status]");
  if (response.ok) {
    form.querySelectorAll("input, textarea, button").forEach((el) => (el.disabled = true));
    note.textContent = "Thank you for your rating.";
  } else {
    note.textContent = await problemText(response);
  }
  view.root.dataset.rated = String(response.ok);
}

/** Wire a page: its config is the JSON in #video-config. */
export async function boot(root = document.querySelector("[data-video-call]")) {
  if (!root) return null;
  const config = JSON.parse(document.getElementById("video-config").textContent);
  const view = new PageView(root, config);
  const join = root.querySelector("[data-join]");
  let call = null;

  const begin = async (grant) => {
    if (grant.sfu) {
      // Rooms past the mesh limit run on an SFU (LiveKit), whose own client SDK joins them.
      view.status(`This room runs on an SFU (${grant.sfu.provider}); this page joins mesh rooms only.`);
      root.dataset.state = "unsupported";
      return;
    }
    keepGrant(config.storage_key, grant);
    call = new VideoCall(grant, view);
    root.dataset.participant = grant.participant_id;
    root.querySelectorAll("[data-in-call]").forEach((el) => (el.hidden = false));
    if (join) join.hidden = true;
    try {
      await call.start();
      root.dataset.state = "joined";
    } catch (error) {
      view.status(`Camera or microphone unavailable: ${error.message || error}`);
      call.stop(`Could not start: ${error.message || error}`);
    }
  };

  const share = root.querySelector("[data-action=screen]");
  // Phones' browsers have no getDisplayMedia: no button that cannot work.
  if (!navigator.mediaDevices || !navigator.mediaDevices.getDisplayMedia) share.remove();
  share.addEventListener("click", async () => {
    try {
      await call.shareScreen();
    } catch (error) {
      view.status(`Screen sharing did not start: ${error.message || error}`);
    }
  });
  const hangup = root.querySelector("[data-action=hangup]");
  if (hangup) hangup.addEventListener("click", () => call && call.leave());
  const end = root.querySelector("[data-action=end]");
  if (end) {
    end.addEventListener("click", async () => {
      end.disabled = true;
      try {
        await call.end();
      } catch (error) {
        view.status(`The call could not be ended: ${error.message || error}`);
        end.disabled = false;
      }
    });
  }
  const rating = root.querySelector("form[data-rating]");
  if (rating) {
    rating.addEventListener("submit", (event) => {
      event.preventDefault();
      rate(call, rating, view);
    });
  }

  if (config.ended && config.storage_key) forgetGrant(config.storage_key);
  const stored = config.storage_key && !config.ended ? storedGrant(config.storage_key) : null;
  if (join) {
    join.addEventListener("submit", async (event) => {
      event.preventDefault();
      const button = join.querySelector("button");
      button.disabled = true;
      try {
        const grant = config.guest_token
          ? await guestGrant(config, { name: new FormData(join).get("name") })
          : await agentGrant(join);
        await begin(grant);
      } catch (error) {
        view.status(`Could not join: ${error.message || error}`);
        button.disabled = false;
      }
    });
  }
  if (stored && config.guest_token) {
    // A guest's reload: the same participant again, counted as a reconnection.
    try {
      await begin(await guestGrant(config, { resume: stored.access_token }));
    } catch (error) {
      forgetGrant(config.storage_key);
      view.status(`Could not rejoin: ${error.message || error}`);
    }
  } else if (stored) {
    // An agent's reload: this tab joined earlier; its grant (same participant) resumes.
    await begin(stored);
  }
  window.commbaseVideo = { get call() { return call; }, view };
  return call;
}

boot();
