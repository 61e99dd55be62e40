// The desk's small behaviours: field checks before submitting, following an offer, a CSV job's progress bar,
// a status change reaching the chain, and the print button. Served from /desk/static (the page's CSP allows
// only same-origin scripts); everything works without it except the live updates.
"use strict";
(() => {
  const $ = (id) => document.getElementById(id);
  const poll = (url, every, onData) => {
    let stopped = false;
    const tick = async () => {
      if (stopped) return;
      try {
        const r = await fetch(url, { headers: { Accept: "application/json" }, cache: "no-store" });
        if (r.status === 401) {  // the session idled out: back to sign-in, then here again
          location.assign(`/desk/signin?ended=1&next=${encodeURIComponent(location.pathname)}`);
          return;
        }
        if (r.ok && onData(await r.json()) === false) { stopped = true; return; }
      } catch (e) { /* the next tick tries again */ }
      setTimeout(tick, every);
    };
    tick();
  };

  // Issue form: ask the server (the type's JSON Schema) about every field as the clerk leaves it.
  const form = $("issue-form");
  if (form) {
    const check = async () => {
      const body = new FormData(form);
      const r = await fetch(form.dataset.check, {
        method: "POST", body: new URLSearchParams(body),
        headers: { "X-CSRF-Token": body.get("csrf"), Accept: "application/json" },
      });
      if (!r.ok) return null;
      const { errors, messages } = await r.json();
      for (const el of form.querySelectorAll(".field")) {
        const name = el.dataset.field;
        const touched = el.dataset.touched === "1";
        const err = touched ? (errors[name] || "") : "";
        el.classList.toggle("invalid", !!err);
        $("e-" + name).dataset.rule = err;
        $("e-" + name).textContent = err ? messages[name] : "";
      }
      return errors;
    };
    form.addEventListener("focusout", (ev) => {
      const field = ev.target.closest(".field");
      if (field) { field.dataset.touched = "1"; check(); }
    });
    form.addEventListener("submit", async (ev) => {
      if (form.dataset.checked === "1") return;
      ev.preventDefault();
      for (const el of form.querySelectorAll(".field")) el.dataset.touched = "1";
      const errors = await check();
      if (errors && Object.keys(errors).length === 0) { form.dataset.checked = "1"; form.submit(); }
      else if (errors === null) { form.dataset.checked = "1"; form.submit(); }  // let the server answer
    });
  }

  // Offer page: follow the offer until the wallet has it (or it expires).
  const offer = $("offer");
  if (offer) {
    poll(`/desk/offers/${offer.dataset.offer}/state`, 1000, (s) => {
      offer.dataset.state = s.state;
      $("offer-state").textContent = offer.dataset["label" + s.state[0].toUpperCase() + s.state.slice(1)] || s.state;
      return s.state === "waiting";
    });
    $("print").addEventListener("click", () => window.print());
  }

  // CSV job: the progress bar follows the committed count.
  const job = $("job");
  if (job && job.dataset.state === "running") {
    poll(`/desk/bulk/${job.dataset.job}/state`, 500, (s) => {
      $("progress").value = s.done;
      $("progress-text").textContent = `${s.done} / ${s.rows}`;
      job.dataset.done = s.done;
      job.dataset.state = s.state;
      if (s.state === "done") { $("result").hidden = false; return false; }
      return true;
    });
  }

  // A credential after a change: follow it until the status list on chain carries it.
  const cred = $("credential");
  if (cred && cred.dataset.published === "no") {
    poll(`/desk/credentials/${cred.dataset.id}/state`, 1000, (s) => {
      if (!s.published) return true;
      cred.dataset.published = "yes";
      $("publication").textContent = cred.dataset.labelPublished;
      return false;
    });
  }
})();
