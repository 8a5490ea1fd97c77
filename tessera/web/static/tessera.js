/* Tessera's progressive enhancement: every form here works without this file; with it,
   likes, comments and uploads happen in place, photos show a blurred placeholder while
   they load, the feed loads more as you scroll, and the notification badge is live. */
"use strict";

(() => {
  const csrfToken = () => document.querySelector('meta[name="csrf-token"]').content;

  /* POST a form (or FormData) with the CSRF token in a header; JSON back.
     Errors carry the server's readable message. */
  async function post(url, body) {
    const response = await fetch(url, {
      method: "POST",
      body,
      credentials: "same-origin",
      headers: { Accept: "application/json", "X-CSRF-Token": csrfToken() },
    });
    const data = await response.json().catch(() => ({}));
    if (!response.ok) {
      throw new Error(data.error || `The server answered ${response.status}. Try again.`);
    }
    return data;
  }

  /* -- blurhash placeholders ----------------------------------------------------------
     Decoded here rather than on the server: the hash is ~30 bytes in the page where a
     server-made placeholder image would be ~1 KB per photo, and a 32 x 32 decode takes
     well under a millisecond. Without scripts the grey frame stands in. */
  const BASE83 =
    "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz#$%*+,-.:;=?@[]^_{|}~";

  function decode83(text) {
    let value = 0;
    for (const char of text) value = value * 83 + BASE83.indexOf(char);
    return value;
  }

  const toLinear = (v) => {
    const c = v / 255;
    return c <= 0.04045 ? c / 12.92 : Math.pow((c + 0.055) / 1.055, 2.4);
  };
  const toSrgb = (v) => {
    const c = Math.max(0, Math.min(1, v));
    return Math.round(
      (c <= 0.0031308 ? c * 12.92 : 1.055 * Math.pow(c, 1 / 2.4) - 0.055) * 255,
    );
  };
  const signedPow = (v, exp) => Math.sign(v) * Math.pow(Math.abs(v), exp);

  function blurhashPixels(hash, width, height) {
    const sizeFlag = decode83(hash[0]);
    const nx = (sizeFlag % 9) + 1;
    const ny = Math.floor(sizeFlag / 9) + 1;
    if (hash.length !== 4 + 2 * nx * ny) return null;
    const maxAc = (decode83(hash[1]) + 1) / 166;
    const colors = [];
    const dc = decode83(hash.slice(2, 6));
    colors.push([toLinear(dc >> 16), toLinear((dc >> 8) & 255), toLinear(dc & 255)]);
    for (let i = 1; i < nx * ny; i++) {
      const ac = decode83(hash.slice(4 + i * 2, 6 + i * 2));
      const q = [Math.floor(ac / 361), Math.floor(ac / 19) % 19, ac % 19];
      colors.push(q.map((part) => signedPow((part - 9) / 9, 2) * maxAc));
    }
    const pixels = new Uint8ClampedArray(width * height * 4);
    for (let y = 0; y < height; y++) {
      for (let x = 0; x < width; x++) {
        let r = 0, g = 0, b = 0;
        for (let j = 0; j < ny; j++) {
          for (let i = 0; i < nx; i++) {
            const basis =
              Math.cos((Math.PI * x * i) / width) * Math.cos((Math.PI * y * j) / height);
            const color = colors[i + j * nx];
            r += color[0] * basis;
            g += color[1] * basis;
            b += color[2] * basis;
          }
        }
        const at = 4 * (x + y * width);
        pixels[at] = toSrgb(r);
        pixels[at + 1] = toSrgb(g);
        pixels[at + 2] = toSrgb(b);
        pixels[at + 3] = 255;
      }
    }
    return pixels;
  }

  function paintBlurhashes(root) {
    for (const canvas of root.querySelectorAll("canvas[data-blurhash]")) {
      const hash = canvas.dataset.blurhash;
      delete canvas.dataset.blurhash;
      const pixels = hash && blurhashPixels(hash, canvas.width, canvas.height);
      if (pixels) {
        canvas
          .getContext("2d")
          .putImageData(new ImageData(pixels, canvas.width, canvas.height), 0, 0);
      }
    }
  }

  /* -- carousels -------------------------------------------------------------------- */

  function setUpCarousel(frame) {
    if (frame.dataset.ready) return;
    frame.dataset.ready = "1";
    const slides = frame.querySelector(".slides");
    const prev = frame.querySelector(".carousel-prev");
    const next = frame.querySelector(".carousel-next");
    const dots = [...frame.querySelectorAll(".dot")];
    const count = slides.children.length;
    const current = () => Math.round(slides.scrollLeft / slides.clientWidth);
    const show = (index) => {
      const target = Math.max(0, Math.min(count - 1, index));
      slides.scrollTo({ left: target * slides.clientWidth });
    };
    const update = () => {
      const index = current();
      prev.hidden = index <= 0;
      next.hidden = index >= count - 1;
      dots.forEach((dot, i) => dot.classList.toggle("current", i === index));
    };
    prev.addEventListener("click", () => show(current() - 1));
    next.addEventListener("click", () => show(current() + 1));
    slides.addEventListener("scroll", update, { passive: true });
    slides.addEventListener("keydown", (event) => {
      if (event.key === "ArrowLeft") show(current() - 1);
      else if (event.key === "ArrowRight") show(current() + 1);
      else return;
      event.preventDefault();
    });
    update();
  }

  /* -- likes: the button, and a double click or double tap on the photo -------------- */

  function likeState(form, liked, count) {
    const button = form.querySelector(".like-button");
    const id = button.dataset.postId;
    button.setAttribute("aria-pressed", liked ? "true" : "false");
    button.querySelector("path").setAttribute("fill", liked ? "currentColor" : "none");
    form.action = `/p/${id}/${liked ? "unlike" : "like"}`;
    const holder = form.closest("article");
    const likes = holder && holder.querySelector(".likes");
    if (likes && count !== undefined) {
      likes.dataset.likes = count;
      likes.textContent = `${count.toLocaleString("en")} ${count === 1 ? "like" : "likes"}`;
    }
  }

  async function sendLike(form, liked) {
    const button = form.querySelector(".like-button");
    const before = button.getAttribute("aria-pressed") === "true";
    likeState(form, liked); // at once; put right if the server refuses
    button.classList.remove("pop");
    void button.offsetWidth;
    button.classList.add("pop");
    const body = new FormData();
    try {
      const answer = await post(`/p/${button.dataset.postId}/${liked ? "like" : "unlike"}`, body);
      likeState(form, answer.favourited, answer.favourites_count);
    } catch (error) {
      likeState(form, before);
      alertNear(form, error.message);
    }
  }

  function alertNear(element, message) {
    const holder = element.closest("article, form, main") || document.body;
    let box = holder.querySelector(":scope > .js-error");
    if (!box) {
      box = document.createElement("p");
      box.className = "error js-error";
      box.setAttribute("role", "alert");
      holder.prepend(box);
    }
    box.textContent = message;
  }

  function burst(frame) {
    const heart = frame.querySelector(".burst");
    if (!heart) return;
    heart.classList.remove("show");
    void heart.offsetWidth;
    heart.classList.add("show");
  }

  function likeFromPhoto(frame) {
    const article = frame.closest("article");
    const form = article && article.querySelector(".like-form");
    if (!form) return;
    burst(frame);
    if (form.querySelector(".like-button").getAttribute("aria-pressed") !== "true") {
      sendLike(form, true);
    }
  }

  let lastTap = { time: 0, frame: null };
  document.addEventListener("dblclick", (event) => {
    const frame = event.target.closest(".photos");
    if (frame && !event.target.closest("button")) {
      event.preventDefault();
      likeFromPhoto(frame);
    }
  });
  document.addEventListener("pointerup", (event) => {
    // Touch screens: two taps within 300 ms (mouse double clicks come as dblclick).
    if (event.pointerType !== "touch") return;
    const frame = event.target.closest(".photos");
    if (!frame || event.target.closest("button")) return;
    const now = event.timeStamp;
    if (lastTap.frame === frame && now - lastTap.time < 300) {
      lastTap = { time: 0, frame: null };
      likeFromPhoto(frame);
    } else {
      lastTap = { time: now, frame };
    }
  });

  /* -- forms handled in place ------------------------------------------------------- */

  document.addEventListener("submit", async (event) => {
    const form = event.target;
    if (form.matches(".like-form")) {
      event.preventDefault();
      const button = form.querySelector(".like-button");
      sendLike(form, button.getAttribute("aria-pressed") !== "true");
    } else if (form.matches("[data-comments]")) {
      event.preventDefault();
      await sendComment(form);
    } else if (form.matches("[data-remove]")) {
      event.preventDefault();
      try {
        await post(form.action, new FormData(form));
        const gone = document.querySelector(form.dataset.remove);
        if (gone) gone.remove();
      } catch (error) {
        alertNear(form, error.message);
      }
    } else if (form.matches("[data-composer]")) {
      event.preventDefault();
      await composer.publish(form);
    }
  });

  async function sendComment(form) {
    const field = form.querySelector("textarea");
    const button = form.querySelector('button[type="submit"]');
    if (!field.value.trim()) return;
    button.disabled = true;
    try {
      const answer = await post(form.action, new FormData(form));
      const list = document.querySelector(form.dataset.comments);
      list.insertAdjacentHTML("beforeend", answer.html);
      const none = document.querySelector("[data-no-comments]");
      if (none) none.remove();
      field.value = "";
      const old = form.querySelector(".js-error");
      if (old) old.remove();
      list.lastElementChild.scrollIntoView({ block: "nearest" });
    } catch (error) {
      alertNear(form, error.message);
    } finally {
      button.disabled = false;
    }
  }

  // Enter posts a comment, Shift+Enter makes a new line (as on Instagram).
  document.addEventListener("keydown", (event) => {
    const field = event.target;
    if (event.key === "Enter" && !event.shiftKey && field.matches(".comment-form textarea")) {
      event.preventDefault();
      field.form.requestSubmit();
    }
  });

  /* -- infinite scroll -------------------------------------------------------------- */

  const loader =
    "IntersectionObserver" in window
      ? new IntersectionObserver(
          (entries) => entries.forEach((entry) => entry.isIntersecting && loadMore(entry.target)),
          { rootMargin: "800px 0px" },
        )
      : null;

  async function loadMore(link) {
    if (link.classList.contains("loading")) return;
    link.classList.add("loading");
    loader.unobserve(link);
    try {
      const response = await fetch(link.dataset.fragment, { credentials: "same-origin" });
      if (!response.ok) throw new Error(String(response.status));
      const holder = link.closest("li.grid-more") || link;
      const parent = holder.parentNode;
      const template = document.createElement("template");
      template.innerHTML = await response.text();
      const added = [...template.content.children];
      holder.replaceWith(template.content);
      added.forEach((node) => enhance(node));
      if (!parent.querySelector(".more[data-fragment]")) parent.dataset.done = "1";
    } catch {
      link.classList.remove("loading"); // the link still works as a plain link
    }
  }

  /* -- the live notification badge ---------------------------------------------------- */

  function listen() {
    const url = document.body.dataset.stream;
    const badge = document.getElementById("unread-badge");
    if (!url || !badge || !("EventSource" in window)) return;
    const source = new EventSource(url);
    source.addEventListener("notification", () => {
      const count = Number(badge.dataset.count || 0) + 1;
      badge.dataset.count = count;
      badge.querySelector(".badge-count").textContent = count > 99 ? "99+" : String(count);
      badge.hidden = false;
      badge.classList.remove("bump");
      void badge.offsetWidth;
      badge.classList.add("bump");
    });
    window.addEventListener("pagehide", () => source.close());
  }

  /* -- a new post: choose, preview, order, describe, upload with progress, share ------- */

  const composer = (() => {
    const TYPES = /^image\/(jpeg|png|webp|gif|heic|heif|avif)$/;
    let form, list, template, drafts, errorBox, progressRow, progress, progressText, share;

    function setUp(root) {
      form = root;
      list = form.querySelector("[data-drafts]");
      template = document.getElementById("draft-template");
      errorBox = form.querySelector("[data-composer-error]");
      progressRow = form.querySelector("[data-progress]");
      progress = progressRow.querySelector("progress");
      progressText = progressRow.querySelector("[data-progress-text]");
      share = form.querySelector("[data-share]");
      drafts = [];
      const input = form.querySelector('input[type="file"]');
      input.removeAttribute("name"); // photos go up one by one, not with the form
      form.querySelector("[data-no-js]").remove();
      form.removeAttribute("enctype");
      input.addEventListener("change", () => {
        add([...input.files]);
        input.value = "";
      });
      const picker = form.querySelector("[data-picker]");
      picker.addEventListener("dragover", (event) => {
        event.preventDefault();
        picker.classList.add("dragging");
      });
      picker.addEventListener("dragleave", () => picker.classList.remove("dragging"));
      picker.addEventListener("drop", (event) => {
        event.preventDefault();
        picker.classList.remove("dragging");
        add([...event.dataTransfer.files]);
      });
      refresh();
    }

    function say(message) {
      errorBox.textContent = message;
      errorBox.hidden = !message;
    }

    function add(files) {
      say("");
      const room = Number(form.dataset.max) - drafts.length;
      if (files.length > room) {
        say(`A post holds at most ${form.dataset.max} photos: ${files.length - room} of the files you chose were left out.`);
        files = files.slice(0, Math.max(0, room));
      }
      for (const file of files) {
        const draft = { file, id: null, error: null, loaded: 0, done: false };
        draft.item = template.content.firstElementChild.cloneNode(true);
        draft.preview = URL.createObjectURL(file);
        draft.item.querySelector("img").src = draft.preview;
        drafts.push(draft);
        list.append(draft.item);
        wire(draft);
        if (!TYPES.test(file.type) && file.type) {
          fail(draft, `${file.name} is not a photo Tessera can use: choose JPEG, PNG, WebP, GIF, HEIC or AVIF files.`);
        } else if (file.size > Number(form.dataset.sizeLimit)) {
          fail(draft, `${file.name} is too large: each photo may be up to ${form.dataset.sizeText}.`);
        } else {
          upload(draft);
        }
      }
      refresh();
    }

    function wire(draft) {
      const item = draft.item;
      item.querySelector("[data-move='-1']").addEventListener("click", () => move(draft, -1));
      item.querySelector("[data-move='1']").addEventListener("click", () => move(draft, 1));
      item.querySelector("[data-remove]").addEventListener("click", () => remove(draft));
    }

    function move(draft, step) {
      const from = drafts.indexOf(draft);
      const to = from + step;
      if (to < 0 || to >= drafts.length) return;
      drafts.splice(from, 1);
      drafts.splice(to, 0, draft);
      refresh();
      draft.item.querySelector(`[data-move='${step}']`).focus();
    }

    function remove(draft) {
      if (draft.request) draft.request.abort();
      URL.revokeObjectURL(draft.preview);
      drafts.splice(drafts.indexOf(draft), 1);
      draft.item.remove();
      refresh();
      form.querySelector("label[for='photos']").focus();
    }

    function fail(draft, message) {
      draft.error = message;
      draft.done = true;
      draft.item.classList.add("refused");
      const status = draft.item.querySelector(".upload-status");
      status.textContent = message;
      status.classList.add("error-text");
      status.setAttribute("role", "alert");
      refresh();
    }

    function upload(draft) {
      const body = new FormData();
      body.append("file", draft.file);
      const request = new XMLHttpRequest();
      draft.request = request;
      request.open("POST", "/web/media");
      request.setRequestHeader("Accept", "application/json");
      request.setRequestHeader("X-CSRF-Token", csrfToken());
      request.upload.addEventListener("progress", (event) => {
        if (event.lengthComputable) {
          draft.loaded = event.loaded / event.total;
          refresh();
        }
      });
      request.addEventListener("load", () => {
        let answer = {};
        try {
          answer = JSON.parse(request.responseText);
        } catch {
          answer = {};
        }
        draft.request = null;
        if (request.status === 200 && answer.id) {
          draft.id = answer.id;
          draft.done = true;
          draft.loaded = 1;
          draft.item.querySelector(".upload-status").textContent = "Uploaded";
          refresh();
        } else {
          fail(draft, answer.error || `${draft.file.name} could not be uploaded (error ${request.status}).`);
        }
      });
      request.addEventListener("error", () => {
        draft.request = null;
        fail(draft, `${draft.file.name} could not be uploaded: check your connection and try again.`);
      });
      draft.item.querySelector(".upload-status").textContent = "Uploading…";
      request.send(body);
    }

    function refresh() {
      drafts.forEach((draft, index) => {
        const n = index + 1;
        const item = draft.item;
        const input = item.querySelector("[data-alt]");
        input.id = `alt-${n}`;
        const label = item.querySelector("label");
        label.htmlFor = input.id;
        label.textContent = `Alt text for photo ${n}`;
        item.querySelector("img").alt = `Preview of photo ${n}`;
        const [left, right] = item.querySelectorAll("[data-move]");
        left.textContent = "←";
        left.setAttribute("aria-label", `Move photo ${n} earlier`);
        left.disabled = index === 0;
        right.textContent = "→";
        right.setAttribute("aria-label", `Move photo ${n} later`);
        right.disabled = index === drafts.length - 1;
        const removeButton = item.querySelector("[data-remove]");
        removeButton.textContent = "Remove";
        removeButton.setAttribute("aria-label", `Remove photo ${n}`);
        list.append(item);
      });
      const uploading = drafts.filter((d) => !d.error);
      const pending = uploading.some((d) => !d.done);
      const total = uploading.length
        ? uploading.reduce((sum, d) => sum + (d.done ? 1 : d.loaded), 0) / uploading.length
        : 0;
      progressRow.hidden = uploading.length === 0;
      progress.value = Math.round(total * 100);
      progressText.textContent = pending ? `${Math.round(total * 100)}%` : "All photos uploaded";
      share.disabled = pending || !uploading.length;
    }

    async function publish() {
      const ready = drafts.filter((d) => d.id);
      if (!ready.length) {
        say("Choose at least one photo to share.");
        return;
      }
      const body = new FormData();
      body.append("caption", form.querySelector("#caption").value);
      for (const draft of ready) {
        body.append("media_ids[]", draft.id);
        body.append("descriptions[]", draft.item.querySelector("[data-alt]").value);
      }
      share.disabled = true;
      try {
        const answer = await post("/new", body);
        window.location.assign(answer.url);
      } catch (error) {
        say(error.message);
        share.disabled = false;
      }
    }

    return { setUp, publish };
  })();

  /* -- start ------------------------------------------------------------------------ */

  function enhance(root) {
    if (!(root instanceof Element)) return;
    paintBlurhashes(root);
    root.querySelectorAll(".photos.carousel").forEach(setUpCarousel);
    if (!loader) return;
    const links = [...root.querySelectorAll(".more[data-fragment]")];
    if (root.matches(".more[data-fragment]")) links.push(root);
    links.forEach((link) => loader.observe(link));
  }

  enhance(document.body);
  const composerForm = document.querySelector("[data-composer]");
  if (composerForm) composer.setUp(composerForm);
  listen();
})();
