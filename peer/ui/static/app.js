// kith web app: progressive enhancement over plain forms. No inline script anywhere
// (the Content-Security-Policy forbids it); every request carries the CSRF token.
"use strict";
(function () {
  const csrf = document.querySelector('meta[name="csrf-token"]')?.content || "";

  // Confirm destructive forms (once per form, also for posts merged in later).
  function bindConfirms() {
    document.querySelectorAll("form[data-confirm]").forEach((f) => {
      if (f.dataset.bound) return;
      f.dataset.bound = "1";
      f.addEventListener("submit", (e) => { if (!confirm(f.dataset.confirm)) e.preventDefault(); });
    });
  }
  bindConfirms();

  // Replies and reactions in place: the form posts in the background, then the
  // timeline merges the post's new conversation in.
  function bindInplace() {
    document.querySelectorAll("form.inplace").forEach((f) => {
      if (f.dataset.bound) return;
      f.dataset.bound = "1";
      f.addEventListener("submit", async (e) => {
        e.preventDefault();
        const body = new FormData(f, e.submitter);
        const resp = await fetch(f.action, { method: "POST", body, credentials: "same-origin",
          headers: { "X-CSRF-Token": csrf } });
        if (resp.ok) {
          f.reset();
          if (posts) refresh(); else location.reload(); // the thread page: show the new page
        } else {
          alert(await resp.text());
        }
      });
    });
  }
  bindInplace();

  // Compose: drag and drop into the file input, and upload with progress.
  const form = document.getElementById("compose");
  if (form) {
    const input = document.getElementById("photos");
    const drop = document.getElementById("drop");
    const picked = document.getElementById("picked");
    const progress = document.getElementById("progress");
    const status = document.getElementById("status");
    const list = () => {
      picked.replaceChildren(...Array.from(input.files).map((f) => {
        const li = document.createElement("li");
        li.textContent = f.name + " (" + Math.ceil(f.size / 1024) + " KB)";
        return li;
      }));
    };
    input.addEventListener("change", list);
    ["dragenter", "dragover"].forEach((t) => drop.addEventListener(t, (e) => { e.preventDefault(); drop.classList.add("over"); }));
    ["dragleave", "drop"].forEach((t) => drop.addEventListener(t, () => drop.classList.remove("over")));
    drop.addEventListener("drop", (e) => {
      e.preventDefault();
      const dt = new DataTransfer();
      Array.from(input.files).forEach((f) => dt.items.add(f));
      Array.from(e.dataTransfer.files).forEach((f) => dt.items.add(f));
      input.files = dt.files;
      list();
    });
    form.addEventListener("submit", (e) => {
      e.preventDefault();
      const xhr = new XMLHttpRequest();
      xhr.open("POST", form.action);
      xhr.setRequestHeader("X-CSRF-Token", csrf);
      progress.hidden = false;
      progress.value = 0;
      status.textContent = "Posting…";
      xhr.upload.addEventListener("progress", (ev) => {
        if (ev.lengthComputable) progress.value = Math.round((ev.loaded / ev.total) * 100);
      });
      xhr.addEventListener("load", () => {
        progress.hidden = true;
        if (xhr.status >= 200 && xhr.status < 400) {
          form.reset();
          picked.replaceChildren();
          status.textContent = "Posted.";
          refresh();
        } else {
          status.textContent = "Not posted: " + xhr.responseText;
        }
      });
      xhr.addEventListener("error", () => { progress.hidden = true; status.textContent = "Not posted: the daemon did not answer."; });
      xhr.send(new FormData(form));
    });
  }

  // Timeline: live updates over Server-Sent Events; new and changed posts are fetched
  // as server-rendered (escaped) HTML and merged in without a reload.
  const posts = document.getElementById("posts");
  let busy = false, again = false;
  async function refresh() {
    if (!posts) return;
    if (busy) { again = true; return; }
    busy = true;
    try {
      const q = posts.dataset.query;
      const resp = await fetch("/posts" + (q ? "?" + q : ""), { credentials: "same-origin" });
      if (!resp.ok) return;
      const doc = new DOMParser().parseFromString(await resp.text(), "text/html");
      const fresh = Array.from(doc.querySelectorAll("article.post"));
      const keep = new Set(fresh.map((a) => a.id));
      posts.querySelectorAll("article.post").forEach((a) => { if (!keep.has(a.id)) a.remove(); });
      let prev = null;
      for (const a of fresh) {
        const cur = document.getElementById(a.id);
        let node = cur;
        if (!cur) {
          node = document.importNode(a, true);
          node.classList.add("fresh");
        } else if (cur.dataset.version !== a.dataset.version) {
          node = document.importNode(a, true);
          cur.replaceWith(node);
        }
        if (prev ? prev.nextElementSibling !== node : posts.firstElementChild !== node) {
          prev ? prev.after(node) : posts.prepend(node);
        }
        prev = node;
      }
      const empty = document.getElementById("empty");
      if (empty && fresh.length) empty.remove();
      bindConfirms();
      bindInplace();
    } finally {
      busy = false;
      if (again) { again = false; refresh(); }
    }
  }
  // The unread notifications count in the menu, live on every page.
  const unread = document.getElementById("unread");
  if (unread && window.EventSource) {
    const es = new EventSource("/events");
    if (posts) es.addEventListener("changed", refresh);
    es.addEventListener("unread", (e) => { unread.textContent = e.data === "0" ? "" : e.data; unread.dataset.count = e.data; });
    es.addEventListener("open", () => { document.body.dataset.live = "1"; });
  } else if (posts && window.EventSource) {
    const es = new EventSource("/events");
    es.addEventListener("changed", refresh);
    es.addEventListener("open", () => { document.body.dataset.live = "1"; });
  }
})();
