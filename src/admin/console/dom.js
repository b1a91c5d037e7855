// Small DOM helpers of the console: elements built from values (text only through text nodes,
// never as HTML), tables, cards, the flash line, and SVG elements for the charts.
/* global document, window */

const SVG_NS = 'http://www.w3.org/2000/svg';

/** Children as nodes: null, undefined and false are left out (never shown as text). */
function append(el, children) {
  for (const c of children.flat(Infinity)) {
    if (c === undefined || c === null || c === false) continue;
    el.append(c instanceof window.Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

function setAttributes(el, attrs) {
  for (const [k, v] of Object.entries(attrs ?? {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith('on')) el.addEventListener(k.slice(2), v);
    else if (k === 'class') el.setAttribute('class', v);
    else el.setAttribute(k, v === true ? '' : String(v));
  }
  return el;
}

/** An HTML element: h('td', { class: 'num' }, 42). */
export function h(tag, attrs, ...children) {
  return append(setAttributes(document.createElement(tag), attrs), children);
}

/** An SVG element: svg('rect', { x: 0, y: 0, width: 4, height: 10 }). */
export function svg(tag, attrs, ...children) {
  return append(setAttributes(document.createElementNS(SVG_NS, tag), attrs), children);
}

/** Replace what `el` holds; null and undefined children are skipped, as h() skips them. */
export function mount(el, ...children) {
  el.replaceChildren();
  return append(el, children);
}

/**
 * Text with places a line may break (after _ / . : and inside camelCase), as text nodes and <wbr>:
 * long identifiers and paths wrap in a narrow column instead of widening the table. Copying the
 * text gives it back unchanged.
 */
export function breakable(text) {
  const parts = String(text).split(/(?<=[_/.:])|(?<=[a-z])(?=[A-Z])/);
  return parts.flatMap((p, i) => (i === 0 ? [p] : [h('wbr'), p]));
}

export function table(headers, rows, attrs) {
  return h(
    'table',
    attrs,
    h(
      'thead',
      null,
      h(
        'tr',
        null,
        headers.map((x) => h('th', null, x)),
      ),
    ),
    h(
      'tbody',
      null,
      rows.length ? rows : h('tr', null, h('td', { colspan: headers.length, class: 'muted' }, 'none')),
    ),
  );
}

export function card(label, value, id) {
  return h(
    'div',
    { class: 'card', 'data-testid': id },
    h('div', { class: 'big' }, value),
    h('div', { class: 'label' }, label),
  );
}

export function flash(text, error) {
  const box = document.getElementById('flash');
  box.textContent = text ?? '';
  box.className = error ? 'error' : '';
}
