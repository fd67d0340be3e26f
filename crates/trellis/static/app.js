/* Trellis — small progressive enhancements. No dependencies; CSP-safe (no inline code, no eval). */
(function () {
  'use strict';

  var doc = document;
  doc.documentElement.classList.add('js');

  // ---- CSRF token and JSON fetch helper ----
  function csrfToken() {
    var meta = doc.querySelector('meta[name="csrf-token"]');
    return meta ? meta.getAttribute('content') || '' : '';
  }

  // Turns {"errors": {"field": ["message", ...]}} into "field: message, message; other: ...".
  function errorMessage(body, res) {
    if (body && typeof body === 'object' && body.errors && typeof body.errors === 'object') {
      var parts = Object.keys(body.errors).map(function (field) {
        return field + ': ' + [].concat(body.errors[field]).join(', ');
      });
      if (parts.length) return parts.join('; ');
    }
    if (typeof body === 'string' && body.trim()) return body.trim().slice(0, 300);
    return 'Request failed: ' + res.status + (res.statusText ? ' ' + res.statusText : '');
  }

  function isPlainBody(body) {
    return body !== null && typeof body === 'object' &&
      !(body instanceof FormData) && !(body instanceof Blob) &&
      !(body instanceof URLSearchParams) && !(body instanceof ArrayBuffer);
  }

  function fetchJSON(url, options) {
    var opts = Object.assign({ method: 'GET', credentials: 'same-origin' }, options || {});
    var headers = new Headers(opts.headers || {});
    headers.set('Accept', 'application/json');
    headers.set('X-CSRF-Token', csrfToken());
    if (isPlainBody(opts.body)) {
      opts.body = JSON.stringify(opts.body);
      if (!headers.has('Content-Type')) headers.set('Content-Type', 'application/json');
    }
    opts.headers = headers;
    return fetch(url, opts).then(function (res) {
      return res.text().then(function (text) {
        var body = null;
        if (text) {
          try { body = JSON.parse(text); } catch (e) { body = text; }
        }
        if (!res.ok) {
          var err = new Error(errorMessage(body, res));
          err.status = res.status;
          err.errors = body && body.errors ? body.errors : {};
          err.body = body;
          throw err;
        }
        return body;
      });
    });
  }

  window.trellis = { csrfToken: csrfToken, fetchJSON: fetchJSON };

  // ---- Navigation toggle (narrow screens) ----
  doc.addEventListener('click', function (e) {
    var toggle = e.target.closest && e.target.closest('.nav-toggle');
    if (!toggle) return;
    var nav = toggle.closest('.nav');
    if (!nav) return;
    var open = nav.classList.toggle('nav-open');
    toggle.setAttribute('aria-expanded', open ? 'true' : 'false');
  });

  doc.addEventListener('keydown', function (e) {
    if (e.key !== 'Escape') return;
    var nav = doc.querySelector('.nav.nav-open');
    if (!nav) return;
    nav.classList.remove('nav-open');
    var toggle = nav.querySelector('.nav-toggle');
    if (toggle) { toggle.setAttribute('aria-expanded', 'false'); toggle.focus(); }
  });

  // ---- data-confirm on buttons/links (click) and forms (submit) ----
  doc.addEventListener('click', function (e) {
    var el = e.target.closest && e.target.closest('button[data-confirm], input[data-confirm], a[data-confirm]');
    if (el && !el.disabled && !window.confirm(el.getAttribute('data-confirm'))) {
      e.preventDefault();
      e.stopImmediatePropagation();
    }
  }, true);

  doc.addEventListener('submit', function (e) {
    var form = e.target;
    if (!form.hasAttribute || !form.hasAttribute('data-confirm')) return;
    // A confirming submit button (also clicked on Enter) has already asked.
    if (e.submitter && e.submitter.hasAttribute('data-confirm')) return;
    if (!window.confirm(form.getAttribute('data-confirm'))) e.preventDefault();
  });

  // ---- Dismissible flash messages ----
  function addDismiss(msg) {
    if (msg.querySelector('.message-dismiss')) return;
    var btn = doc.createElement('button');
    btn.type = 'button';
    btn.className = 'message-dismiss';
    btn.setAttribute('aria-label', 'Dismiss message');
    btn.textContent = '\u00d7';
    btn.addEventListener('click', function () {
      var list = msg.parentNode;
      msg.remove();
      if (list && list.classList.contains('messages') && !list.querySelector('.message')) list.remove();
    });
    msg.appendChild(btn);
  }

  // ---- Image preview for file inputs ----
  var MAX_PREVIEW_BYTES = 10 * 1024 * 1024;

  function previewImage(input) {
    var preview = input.nextElementSibling;
    if (!preview || !preview.classList.contains('file-preview')) preview = null;
    var file = input.files && input.files[0];
    if (!file || !/^image\//.test(file.type) || file.size > MAX_PREVIEW_BYTES) {
      if (preview) preview.remove();
      return;
    }
    var reader = new FileReader();
    reader.addEventListener('load', function () {
      // A data: URL, because the CSP's img-src allows data: but not blob:.
      if (!preview) {
        preview = doc.createElement('img');
        preview.className = 'avatar avatar-sm file-preview';
        preview.alt = 'Preview of the chosen image';
        input.insertAdjacentElement('afterend', preview);
      }
      preview.src = reader.result;
    });
    reader.readAsDataURL(file);
  }

  doc.addEventListener('change', function (e) {
    var input = e.target;
    if (input.matches && input.matches('input[type="file"][accept*="image/"]')) previewImage(input);
  });

  // Live Markdown preview: textareas with data-preview-target post their text to /blog/preview/ (the
  // server renders and sanitizes it exactly as it will be saved) and show the result in the target.
  function livePreview(area) {
    var target = doc.querySelector(area.getAttribute('data-preview-target'));
    if (!target) return;
    var timer = null;
    var seq = 0;
    area.addEventListener('input', function () {
      clearTimeout(timer);
      timer = setTimeout(function () {
        var mine = ++seq;
        window.trellis.fetchJSON('/blog/preview/', { method: 'POST', body: { body: area.value } })
          .then(function (data) {
            if (mine !== seq || !data) return;
            target.innerHTML = '<h2>Preview</h2><div class="prose">' + data.html + '</div>';
          })
          .catch(function () { /* the plain Preview button still works */ });
      }, 400);
    });
  }

  // Every figure a status change moves (counts, phase and week percentages, the chart) is marked
  // [data-live]: after a change the page is read again and those parts are swapped in, so the server
  // stays the one place that computes them. A newer change supersedes an older refresh in flight, and
  // clicks in quick succession share one refresh (the page is read 300 ms after the last of them).
  var liveGeneration = 0;
  var liveTimer = null;
  function refreshLive() {
    window.clearTimeout(liveTimer);
    liveTimer = window.setTimeout(readLive, 300);
  }
  function readLive() {
    var mine = ++liveGeneration;
    window.fetch(window.location.href, { credentials: 'same-origin', headers: { Accept: 'text/html' } })
      .then(function (r) { return r.ok ? r.text() : Promise.reject(r.status); })
      .then(function (html) {
        if (mine !== liveGeneration) return;
        var fresh = new window.DOMParser().parseFromString(html, 'text/html');
        Array.prototype.forEach.call(doc.querySelectorAll('[data-live]'), function (el) {
          var next = fresh.querySelector('[data-live="' + el.getAttribute('data-live') + '"]');
          if (!next) return;
          if (el.tagName === 'PROGRESS') {
            el.value = next.value;
            el.textContent = next.textContent;
            el.setAttribute('aria-label', next.getAttribute('aria-label') || '');
          } else {
            el.innerHTML = next.innerHTML;
          }
        });
      })
      .catch(function () { /* the figures catch up on the next load */ });
  }

  // Tracker: status buttons save through the API and update the page in place; without JS they are
  // plain form posts.
  doc.addEventListener('submit', function (e) {
    var form = e.target;
    if (!form.classList || !form.classList.contains('status-form')) return;
    var box = form.closest('[data-roadmap]');
    var button = e.submitter;
    if (!box || !button || !window.fetch) return;
    e.preventDefault();
    var key = form.getAttribute('action').split('/items/')[1].replace(/\/$/, '');
    var url = '/api/roadmaps/' + box.getAttribute('data-roadmap') + '/items/' + encodeURIComponent(key);
    window.trellis.fetchJSON(url, { method: 'PATCH', body: { status: button.value } })
      .then(function (data) {
        var row = form.closest('.item, tr');
        if (row) {
          row.className = row.className.replace(/status-[a-z]+/, 'status-' + data.status);
        }
        Array.prototype.forEach.call(form.querySelectorAll('.status-button'), function (b) {
          var on = b.value === data.status;
          b.classList.toggle('is-current', on);
          b.setAttribute('aria-pressed', on ? 'true' : 'false');
        });
        var p = data.roadmap_progress;
        var bar = doc.querySelector('[data-testid="overall-progress"]');
        var pct = doc.querySelector('[data-testid="overall-percent"]');
        if (bar) bar.value = p.percent;
        if (pct) pct.textContent = p.percent + '%';
        refreshLive();
      })
      .catch(function () { form.submit(); });
  });

  // ---- To-do: complete and uncomplete through the API without a reload ----
  // Without JavaScript (or if the call fails) the same form posts to the page and the list reloads.
  function bump(selector, by) {
    var el = doc.querySelector(selector);
    if (el) el.textContent = String(Math.max(0, (parseInt(el.textContent, 10) || 0) + by));
  }

  doc.addEventListener('submit', function (e) {
    var form = e.target;
    if (!form.matches || !form.matches('form[data-todo-toggle]') || !window.fetch) return;
    var item = form.closest('[data-todo-id]');
    var field = form.querySelector('input[name="completed"]');
    var button = form.querySelector('button');
    if (!item || !field || !button) return;
    e.preventDefault();
    button.disabled = true;
    window.trellis.fetchJSON('/api/todos/' + item.getAttribute('data-todo-id'), {
      method: 'PATCH', body: { completed: field.value === 'true' }
    }).then(function (task) {
      var title = item.querySelector('.todo-title');
      var due = item.getAttribute('data-due');
      // Overdue means due before today in UTC, as the server counts it.
      var today = new Date().toISOString().slice(0, 10);
      item.classList.toggle('todo-done', task.completed);
      item.classList.toggle('todo-overdue', !task.completed && !!due && due < today);
      field.value = task.completed ? 'false' : 'true';
      button.setAttribute('aria-pressed', task.completed ? 'true' : 'false');
      button.setAttribute('aria-label', (task.completed ? 'Mark as not done: ' : 'Mark as done: ') +
        (title ? title.textContent : ''));
      bump('[data-todo-left]', task.completed ? -1 : 1);
      bump('[data-todo-done]', task.completed ? 1 : -1);
      button.disabled = false;
    }, function () {
      form.submit();
    });
  });

  // Filter menus (form[data-autosubmit]) apply as soon as one changes; the button stays for no-JS.
  doc.addEventListener('change', function (e) {
    var form = e.target.form;
    if (form && form.hasAttribute('data-autosubmit') && e.target.tagName === 'SELECT') form.submit();
  });

  // A running job's page ([data-job-url]) follows its progress as Server-Sent Events (polling the API
  // where EventSource is missing or the stream cannot be opened), and reloads once the job has finished
  // so the outcome (downloads, model link) is drawn by the server.
  function followJob(panel) {
    var url = panel.getAttribute('data-job-url');
    if (!url) return;
    var bar = panel.querySelector('[data-testid=job-progress]');
    var percent = panel.querySelector('[data-testid=job-percent]');
    var status = panel.querySelector('[data-testid=job-status]');
    var finished = false;
    function show(job) {
      if (bar) bar.value = job.progress;
      if (percent) percent.textContent = job.progress + '%';
      if (status) {
        status.textContent = job.status;
        status.className = 'badge job-' + job.status;
      }
      finished = ['succeeded', 'failed', 'cancelled'].indexOf(job.status) >= 0;
      if (finished) window.location.reload();
      return finished;
    }
    function poll() {
      fetchJSON(url, { method: 'GET' }).then(function (job) {
        if (!show(job)) window.setTimeout(poll, 700);
      }, function () {
        window.setTimeout(poll, 3000);
      });
    }
    if (!window.EventSource) {
      window.setTimeout(poll, 500);
      return;
    }
    var events = new window.EventSource(url + '/events');
    events.addEventListener('job', function (e) {
      var job;
      try { job = JSON.parse(e.data); } catch (err) { return; }
      if (show(job)) events.close();
    });
    // The server ends each stream after a while and the browser reopens it; one it refuses (closed
    // state) is followed by polling instead.
    events.onerror = function () {
      if (events.readyState === window.EventSource.CLOSED && !finished) poll();
    };
  }

  // Copy buttons ([data-copy] names the element whose text they copy). Hidden in the markup and shown
  // only where the Clipboard API exists, so no button is ever offered that cannot work.
  function addCopy(button) {
    if (!navigator.clipboard || !window.isSecureContext) return;
    button.hidden = false;
    button.addEventListener('click', function () {
      var source = doc.querySelector(button.getAttribute('data-copy'));
      if (!source) return;
      navigator.clipboard.writeText(source.textContent.trim()).then(function () {
        button.textContent = 'Copied';
        window.setTimeout(function () { button.textContent = 'Copy'; }, 2000);
      }, function () {
        button.textContent = 'Select and copy it by hand';
      });
    });
  }

  function init() {
    Array.prototype.forEach.call(doc.querySelectorAll('.message'), addDismiss);
    Array.prototype.forEach.call(doc.querySelectorAll('[data-copy]'), addCopy);
    Array.prototype.forEach.call(doc.querySelectorAll('textarea[data-preview-target]'), livePreview);
    Array.prototype.forEach.call(doc.querySelectorAll('[data-job-url]'), followJob);
  }

  if (doc.readyState === 'loading') doc.addEventListener('DOMContentLoaded', init);
  else init();
})();
