/* Trellis admin — enhancements only: every page works without this file. CSP-safe (no inline code). */
(function () {
  'use strict';

  var doc = document;

  // ---- Change list: the header checkbox selects the page's rows ----
  function selectAll(box) {
    var form = box.closest('form');
    if (!form) return;
    var rows = form.querySelectorAll('input[name="_selected"]');
    box.addEventListener('change', function () {
      Array.prototype.forEach.call(rows, function (r) { r.checked = box.checked; });
      var across = form.querySelector('[data-across]');
      if (across) across.classList.toggle('admin-across-offered', box.checked);
    });
    // Choosing "all across pages" implies the rows of this page too.
    var acrossBox = form.querySelector('input[name="select_across"]');
    if (acrossBox) {
      acrossBox.addEventListener('change', function () {
        if (acrossBox.checked) {
          box.checked = true;
          Array.prototype.forEach.call(rows, function (r) { r.checked = true; });
        }
      });
    }
  }

  // ---- Foreign-key picker: search by name, keep the id in the field ----
  function picker(input) {
    var url = input.getAttribute('data-picker');
    var label = input.parentNode.querySelector('[data-picker-label]');
    var list = doc.createElement('ul');
    list.className = 'picker-results';
    list.setAttribute('role', 'listbox');
    list.hidden = true;
    input.insertAdjacentElement('afterend', list);
    input.setAttribute('role', 'combobox');
    input.setAttribute('aria-autocomplete', 'list');
    input.setAttribute('aria-expanded', 'false');
    var timer = null;
    var seq = 0;
    function close() { list.hidden = true; input.setAttribute('aria-expanded', 'false'); }
    function choose(item) {
      input.value = item.id;
      if (label) label.textContent = 'Now: ' + item.text;
      close();
    }
    input.addEventListener('input', function () {
      clearTimeout(timer);
      var q = input.value.trim();
      if (!q || /^\d+$/.test(q)) { close(); return; }
      timer = setTimeout(function () {
        var mine = ++seq;
        window.trellis.fetchJSON(url + '?q=' + encodeURIComponent(q)).then(function (data) {
          if (mine !== seq) return;
          list.innerHTML = '';
          data.results.forEach(function (item) {
            var li = doc.createElement('li');
            li.setAttribute('role', 'option');
            li.tabIndex = -1;
            li.textContent = item.text;
            li.addEventListener('mousedown', function (e) { e.preventDefault(); choose(item); });
            li.addEventListener('keydown', function (e) { if (e.key === 'Enter') { e.preventDefault(); choose(item); } });
            list.appendChild(li);
          });
          if (data.total > data.results.length) {
            var more = doc.createElement('li');
            more.className = 'muted';
            more.textContent = (data.total - data.results.length) + ' more: keep typing';
            list.appendChild(more);
          }
          list.hidden = !data.results.length;
          input.setAttribute('aria-expanded', list.hidden ? 'false' : 'true');
        }).catch(close);
      }, 250);
    });
    input.addEventListener('keydown', function (e) {
      if (e.key === 'ArrowDown' && !list.hidden && list.firstChild) { e.preventDefault(); list.firstChild.focus(); }
      if (e.key === 'Escape') close();
    });
    input.addEventListener('blur', function () { setTimeout(close, 150); });
  }

  // ---- Many-to-many: two lists, available and chosen, with a filter ----
  function dualList(select) {
    var box = doc.createElement('div');
    box.className = 'dual-list';
    var name = select.id;
    box.innerHTML =
      '<div class="dual-pane"><label>Available</label><input type="search" class="dual-filter" placeholder="Filter">' +
      '<select multiple size="10" class="dual-available"></select></div>' +
      '<div class="dual-buttons"><button type="button" class="button button-small" data-add>Choose →</button>' +
      '<button type="button" class="button button-small button-secondary" data-remove>← Remove</button></div>' +
      '<div class="dual-pane"><label>Chosen</label><select multiple size="10" class="dual-chosen"></select></div>';
    var avail = box.querySelector('.dual-available');
    var chosen = box.querySelector('.dual-chosen');
    var filter = box.querySelector('.dual-filter');
    avail.setAttribute('aria-label', 'Available ' + name.replace(/^id_/, ''));
    chosen.setAttribute('aria-label', 'Chosen ' + name.replace(/^id_/, ''));
    var all = Array.prototype.map.call(select.options, function (o) {
      return { option: o, text: o.text };
    });
    function draw() {
      var f = filter.value.trim().toLowerCase();
      avail.innerHTML = '';
      chosen.innerHTML = '';
      all.forEach(function (item) {
        var copy = doc.createElement('option');
        copy.value = item.option.value;
        copy.textContent = item.text;
        if (item.option.selected) chosen.appendChild(copy);
        else if (!f || item.text.toLowerCase().indexOf(f) >= 0) avail.appendChild(copy);
      });
    }
    function move(from, on) {
      var values = Array.prototype.filter.call(from.options, function (o) { return o.selected; })
        .map(function (o) { return o.value; });
      all.forEach(function (item) { if (values.indexOf(item.option.value) >= 0) item.option.selected = on; });
      draw();
    }
    box.querySelector('[data-add]').addEventListener('click', function () { move(avail, true); });
    box.querySelector('[data-remove]').addEventListener('click', function () { move(chosen, false); });
    avail.addEventListener('dblclick', function () { move(avail, true); });
    chosen.addEventListener('dblclick', function () { move(chosen, false); });
    filter.addEventListener('input', draw);
    select.hidden = true;
    select.insertAdjacentElement('afterend', box);
    var hint = select.parentNode.querySelector('.no-js-only');
    if (hint) hint.hidden = true;
    draw();
  }

  function init() {
    Array.prototype.forEach.call(doc.querySelectorAll('input[data-select-all]'), selectAll);
    Array.prototype.forEach.call(doc.querySelectorAll('input[data-picker]'), picker);
    Array.prototype.forEach.call(doc.querySelectorAll('select[data-dual-list]'), dualList);
  }

  if (doc.readyState === 'loading') doc.addEventListener('DOMContentLoaded', init);
  else init();
})();
