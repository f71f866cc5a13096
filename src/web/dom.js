// DOM helpers for the settings page. Text always goes in through text nodes
// (textContent / Node.append(string)); there is no innerHTML anywhere, so data from
// the API can never become markup.

const PROPERTIES = new Set(['value', 'checked', 'disabled', 'hidden', 'tabIndex', 'type', 'name', 'id', 'htmlFor']);

/**
 * Creates an element. `props`: `class`, `text` (textContent), `on<event>` handlers,
 * DOM properties (value, checked, disabled, hidden…), anything else as an attribute.
 * Children: nodes, strings (as text), arrays, null/false (skipped).
 */
export function h(tag, props = {}, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(props)) {
    if (value === undefined || value === null || value === false) continue;
    if (key === 'style' || key === 'innerHTML' || key === 'outerHTML') {
      throw new Error(`h(): "${key}" is not allowed (CSP and XSS safety)`);
    }
    if (key === 'class') el.className = value;
    else if (key === 'text') el.textContent = String(value);
    else if (key.startsWith('on') && typeof value === 'function') el.addEventListener(key.slice(2).toLowerCase(), value);
    else if (PROPERTIES.has(key)) el[key] = value;
    else el.setAttribute(key, value === true ? '' : String(value));
  }
  append(el, children);
  return el;
}

/** Appends children (nodes, strings as text, nested arrays; null/false skipped). */
export function append(el, children) {
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : String(child));
  }
  return el;
}

/** Replaces every child of `el` with `children`. */
export function replace(el, ...children) {
  el.replaceChildren();
  return append(el, children);
}

export const byId = (id) => {
  const el = document.getElementById(id);
  if (!el) throw new Error(`missing element #${id}`);
  return el;
};

const DATE_FORMAT = new Intl.DateTimeFormat(undefined, { dateStyle: 'medium', timeStyle: 'short' });

/** A <time> element for an RFC 3339 timestamp, in the reader's locale and time zone. */
export function time(iso) {
  if (!iso) return h('span', { text: '—' });
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return h('span', { text: String(iso) });
  return h('time', { datetime: iso, title: d.toISOString(), text: DATE_FORMAT.format(d) });
}

/** "1 key", "2 keys". */
export function plural(n, one, many = `${one}s`) {
  return `${n} ${n === 1 ? one : many}`;
}

/** A loading line (announced politely to screen readers). */
export function loading(text) {
  return h('p', { class: 'loading', role: 'status', text });
}

/** "a" or "an" before a word, by its first letter ("an Amazon Bedrock key", "a Google key"). */
export function article(word) {
  return /^[aeiou]/i.test(String(word)) ? 'an' : 'a';
}
