// The counter page's script (counter.html); a file of its own so the page's CSP allows no inline script.
"use strict";
const $ = (id) => document.getElementById(id);
const CLAIMS = {
  city: ["시도", "City"], district: ["시군구", "District"], age_over_19: ["만 19세 이상", "19 or over"],
  market: ["전통시장", "Market"], small_business: ["소상공인", "Small business"],
  programmes: ["참여 사업", "Programmes"], business_number_digest: ["사업자번호 요약", "Business no. digest"],
};
const CODES = {
  revoked: ["취소된 자격증명입니다", "The credential is revoked"],
  suspended: ["정지된 자격증명입니다", "The credential is suspended"],
  expired: ["만료된 자격증명입니다", "The credential has expired"],
  not_yet_valid: ["아직 유효하지 않습니다", "The credential is not valid yet"],
  replayed: ["이미 사용된 QR입니다. 새로 고침 후 다시 보여 주세요", "This QR was already used; refresh it in the wallet"],
  proof_not_fresh: ["QR이 오래되었습니다. 새로 고침하세요", "The QR is too old; refresh it in the wallet"],
  signature_invalid: ["위조되었거나 손상된 자격증명입니다", "The credential is forged or damaged"],
  holder_signature_invalid: ["소지자 확인에 실패했습니다", "The holder proof does not verify"],
  issuer_not_accredited: ["인정되지 않은 발급기관입니다", "The issuer is not accredited"],
  issuer_suspended: ["발급기관 자격이 정지되었습니다", "The issuer is suspended"],
  type_not_accredited: ["이 종류를 발급할 수 없는 기관입니다", "The issuer may not issue this kind"],
  unknown_key: ["알 수 없는 발급 키입니다", "Unknown issuer key"],
  key_not_valid_at_issuance: ["발급 당시 유효하지 않은 키입니다", "The key was not valid at issuance"],
  status_unknown: ["취소 여부를 확인할 수 없습니다", "The revocation status is unknown"],
  nonce_mismatch: ["다른 요청에 대한 제시입니다", "Presented for another request"],
  audience_mismatch: ["다른 검증기를 위한 제시입니다", "Presented to another verifier"],
  malformed: ["읽을 수 없는 QR입니다", "This QR cannot be read as a credential"],
};
let busy = false;

function text(el, ko, en) { el.textContent = ""; el.append(ko); const s = document.createElement("span");
  s.className = "en"; s.textContent = en; el.append(s); }

function reasonOf(body) {
  if (body.verified) return "";
  const failed = body.checks.find((c) => !c.passed && c.check !== "policy");
  if (failed) { const m = CODES[failed.code] || ["확인에 실패했습니다", "Verification failed"];
    return `${m[0]} · ${m[1]} (${failed.code})`; }
  const r = body.policy.reasons[0];
  return r ? `${r.message.ko} · ${r.message.en} (${r.code})` : "";
}

function showVerdict(body, ms) {
  const v = $("verdict");
  v.dataset.state = body.verified ? "ok" : "bad";
  v.dataset.ms = String(Math.round(ms));
  v.dataset.code = body.code || "";
  text($("verdict-title"), body.verified ? "✔ 확인됨" : "✘ 거부됨", body.verified ? "Verified" : "Refused");
  $("reason").textContent = reasonOf(body);
  const dl = $("claims"); dl.textContent = "";
  for (const [name, value] of Object.entries(body.claims || {})) {
    if (!(name in CLAIMS)) continue;
    const dt = document.createElement("dt"); dt.textContent = `${CLAIMS[name][0]} / ${CLAIMS[name][1]}`;
    const dd = document.createElement("dd");
    dd.textContent = value === true ? "예 / Yes" : value === false ? "아니요 / No" : JSON.stringify(value);
    dl.append(dt, dd);
  }
  const t = $("trust");
  t.hidden = !body.trust.stale;
  t.textContent = "⚠ 신뢰 정보가 오래되었습니다 · Trust data is out of date";
}

function showProblem(msgKo, msgEn, ms) {
  const v = $("verdict"); v.dataset.state = "bad"; v.dataset.ms = String(Math.round(ms));
  text($("verdict-title"), "✘ 오류", "Error"); $("reason").textContent = `${msgKo} · ${msgEn}`;
  $("claims").textContent = ""; $("trust").hidden = true;
}

async function submit(fetchVerdict) {
  if (busy) return;
  busy = true;
  const started = performance.now();
  $("verdict").dataset.state = "busy";
  try {
    const r = await fetchVerdict();
    const body = await r.json();
    if (r.ok) showVerdict(body, performance.now() - started);
    else showProblem("요청을 처리할 수 없습니다", body.detail || "request refused", performance.now() - started);
  } catch (e) {
    showProblem("검증기에 연결할 수 없습니다", "cannot reach the verifier", performance.now() - started);
  } finally { busy = false; }
}

function verifyText(presentation) {
  return submit(() => fetch("/v1/verify", { method: "POST", headers: { "content-type": "application/json" },
    body: JSON.stringify({ presentation, policy: $("policy").value }) }));
}

$("scan").addEventListener("keydown", (e) => {
  if (e.key !== "Enter") return;
  e.preventDefault();
  const value = e.target.value.trim(); e.target.value = "";
  if (value) verifyText(value);
});
// A keyboard-wedge scanner types into whatever has focus: keep it on the input.
document.addEventListener("click", (e) => { if (!e.target.closest("select,button")) $("scan").focus(); });
$("policy").addEventListener("change", () => $("scan").focus());

async function loadPolicies() {
  const r = await fetch("/v1/policies"); const { policies } = await r.json();
  for (const p of policies) { const o = document.createElement("option"); o.value = p.name;
    o.textContent = `${p.title.ko} / ${p.title.en}`; $("policy").append(o); }
}

// --- camera ------------------------------------------------------------------------------------------
let lastSeen = "", lastAt = 0;
function seen(value) {
  const now = Date.now();
  if (value === lastSeen && now - lastAt < 5000) return;  // the same QR held in front of the lens
  lastSeen = value; lastAt = now; verifyText(value);
}

async function startCamera() {
  $("camera").hidden = false;
  const video = $("video");
  video.srcObject = await navigator.mediaDevices.getUserMedia({ video: { width: 1280, height: 720 } });
  await video.play();
  const canvas = document.createElement("canvas"); const ctx = canvas.getContext("2d", { willReadFrequently: true });
  let detector = null;
  if ("BarcodeDetector" in window) {
    try { if ((await BarcodeDetector.getSupportedFormats()).includes("qr_code"))
      detector = new BarcodeDetector({ formats: ["qr_code"] }); } catch (e) { detector = null; }
  }
  $("camera-mode").textContent = detector ? "BarcodeDetector" : window.jsQR ? "jsQR" : "server";
  $("camera").dataset.mode = $("camera-mode").textContent;
  const tick = async () => {
    if (!busy && video.videoWidth) {
      if (detector) {
        const codes = await detector.detect(video); if (codes.length) seen(codes[0].rawValue);
      } else {
        canvas.width = video.videoWidth; canvas.height = video.videoHeight; ctx.drawImage(video, 0, 0);
        if (window.jsQR) {
          const img = ctx.getImageData(0, 0, canvas.width, canvas.height);
          const code = window.jsQR(img.data, img.width, img.height, { inversionAttempts: "dontInvert" });
          if (code && code.data) seen(code.data);
        } else {
          const blob = await new Promise((ok) => canvas.toBlob(ok, "image/jpeg", 0.9));
          const url = `/v1/verify/image?policy=${encodeURIComponent($("policy").value)}`;
          await submit(() => fetch(url, { method: "POST", headers: { "content-type": "image/jpeg" }, body: blob }));
        }
      }
    }
    setTimeout(tick, detector || window.jsQR ? 150 : 700);
  };
  tick();
}
$("camera-btn").addEventListener("click", () => startCamera().catch(() =>
  showProblem("카메라를 열 수 없습니다", "cannot open the camera", 0)));

// --- OpenID4VP request QR ----------------------------------------------------------------------------
$("request-btn").addEventListener("click", async () => {
  const r = await fetch("/v1/requests", { method: "POST", headers: { "content-type": "application/json" },
    body: JSON.stringify({ policy: $("policy").value }) });
  const req = await r.json();
  if (!r.ok) { showProblem("요청을 만들 수 없습니다", req.detail || "cannot create a request", 0); return; }
  const v = $("verdict"); v.dataset.state = "idle"; $("reason").textContent = ""; $("claims").textContent = "";
  text($("verdict-title"), "지갑 응답 대기 중", "Waiting for the wallet");
  $("request").hidden = false; $("request").dataset.id = req.id;
  $("request-qr").src = req.qr_png; $("request-qr").dataset.uri = req.uri;
  $("request-status").textContent = "대기 중 · waiting for the wallet";
  const started = performance.now();
  const events = new EventSource(`/v1/requests/${req.id}/events`);
  events.addEventListener("status", (e) => {
    const s = JSON.parse(e.data);
    const label = { pending: "대기 중 · waiting", answered: "확인 중 · checking", done: "완료 · done",
      expired: "만료 · expired", error: "오류 · error" }[s.status] || s.status;
    $("request-status").textContent = label;
    if (s.status === "done" && s.result) { showVerdict(s.result, performance.now() - started); }
    if (s.status === "expired" || s.status === "error") showProblem("요청이 끝났습니다", `request ${s.status}`, 0);
    if (["done", "expired", "error"].includes(s.status)) { events.close(); $("request").hidden = true; $("scan").focus(); }
  });
});

loadPolicies().then(() => $("scan").focus());
