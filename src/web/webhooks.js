// The Webhooks section of the settings page (docs/webhooks.md): add an endpoint with
// its events, the signing secret shown once with a copy button, send a test, enable or
// disable, rotate the secret, delete, and read the delivery log. Same rules as the rest
// of the page: text only (dom.js), no inline styles, every answer of a previous session
// dropped (generation).

import { api, describeError } from './api.js';
import { h, loading, plural, replace, time } from './dom.js';

const BASE = '/api/v1/byok/webhooks';
const MAX_ENDPOINTS = 10;
const LOG_PAGE = 10;

/** Event types a user can subscribe to, in plain words; the first three are checked by default. */
export const WEBHOOK_EVENTS = [
  { type: 'provider_key.status_changed', label: 'A key stops (or starts again) working', checked: true },
  { type: 'provider_key.expiring', label: 'A key expires in 7 days or in 1 day', checked: true },
  { type: 'mode.auto_switched', label: 'The mode switched back to Neo keys automatically', checked: true },
  { type: 'provider_key.created', label: 'A key was added' },
  { type: 'provider_key.updated', label: 'A key was replaced' },
  { type: 'provider_key.deleted', label: 'A key was deleted' },
  { type: 'mode.changed', label: 'The mode was changed' },
];

const DISABLED_REASONS = {
  gone: 'Disabled by Neo: the receiver answered 410 Gone.',
  failing: 'Disabled by Neo: every delivery failed for 3 days.',
};

const STATUS_BADGES = {
  pending: ['badge-warn', 'Pending'],
  delivered: ['badge-ok', 'Delivered'],
  failed: ['badge-error', 'Failed'],
};

function sentence(text) {
  const t = String(text ?? '').trim();
  if (!t) return '';
  const s = t[0].toUpperCase() + t.slice(1);
  return /[.!?]$/.test(s) ? s : `${s}.`;
}

function errorNotice(err, retry) {
  const { lead, detail, extra } = describeError(err);
  return h(
    'div',
    { class: 'notice notice-error', role: 'alert' },
    h('p', { class: 'notice-lead', text: lead }),
    detail ? h('p', { class: 'notice-detail', text: sentence(detail) }) : null,
    extra ? h('p', { class: 'notice-detail', text: extra }) : null,
    retry ? h('button', { type: 'button', class: 'btn btn-small', text: 'Try again', onclick: retry }) : null,
  );
}

/**
 * The section's controller. `isCurrent(gen)` tells whether an answer still belongs to
 * the signed-in session.
 */
export function createWebhooksSection({ section, body, generation }) {
  const state = {
    status: 'idle',
    error: null,
    list: [],
    /** The secret to show once: { id, value, rotated } — wiped when dismissed. */
    secret: null,
    adding: false,
    addError: null,
    addBusy: false,
    /** endpoint id → { open, status, data, offset, total, hasMore, error } */
    logs: new Map(),
    /** endpoint id → short message shown on its card: { kind, text } */
    messages: new Map(),
    confirmDelete: null,
    busy: new Set(),
  };

  const current = () => generation();

  async function load() {
    const gen = current();
    state.status = 'loading';
    render();
    try {
      const res = await api('GET', BASE);
      if (gen !== current()) return;
      state.list = res.webhooks ?? [];
      state.status = 'ok';
      state.error = null;
    } catch (err) {
      if (gen !== current()) return;
      state.status = 'error';
      state.error = err;
    }
    render();
  }

  function reset() {
    Object.assign(state, { status: 'idle', error: null, list: [], secret: null, adding: false, addError: null, addBusy: false, confirmDelete: null });
    state.logs.clear();
    state.messages.clear();
    state.busy.clear();
    body.replaceChildren();
  }

  function show(visible) {
    section.hidden = !visible;
  }

  async function act(id, fn, { reload = true } = {}) {
    const gen = current();
    state.busy.add(id);
    render();
    try {
      await fn();
      if (gen !== current()) return;
    } catch (err) {
      if (gen !== current()) return;
      state.messages.set(id, { kind: 'error', err });
    } finally {
      state.busy.delete(id);
    }
    if (reload) await load();
    else render();
  }

  async function loadLog(id, offset = 0) {
    const gen = current();
    const log = state.logs.get(id) ?? { open: true };
    Object.assign(log, { open: true, status: 'loading' });
    state.logs.set(id, log);
    render();
    try {
      const res = await api('GET', `${BASE}/${encodeURIComponent(id)}/deliveries?limit=${LOG_PAGE}&offset=${offset}`);
      if (gen !== current()) return;
      Object.assign(log, { status: 'ok', data: res.data ?? [], offset, total: res.total, hasMore: res.has_more, error: null });
    } catch (err) {
      if (gen !== current()) return;
      Object.assign(log, { status: 'error', error: err });
    }
    render();
  }

  async function onAdd(ev) {
    ev.preventDefault();
    const form = ev.currentTarget;
    const url = form.elements.namedItem('url').value.trim();
    const description = form.elements.namedItem('description').value.trim();
    const events = [...form.querySelectorAll('input[name="events"]:checked')].map((i) => i.value);
    if (!url) {
      state.addError = { field: 'url', text: 'Enter the https URL that should receive the events.' };
      render();
      return;
    }
    if (events.length === 0) {
      state.addError = { field: 'events', text: 'Choose at least one event.' };
      render();
      return;
    }
    const gen = current();
    state.addBusy = true;
    state.addError = null;
    render();
    try {
      const res = await api('POST', BASE, { url, events, ...(description ? { description } : {}) });
      if (gen !== current()) return;
      state.secret = { id: res.webhook.id, value: res.secret, rotated: false };
      state.adding = false;
    } catch (err) {
      if (gen !== current()) return;
      const { lead, detail } = describeError(err);
      const text = [lead, detail].filter(Boolean).map(sentence).join(' ');
      state.addError = { field: /\burl\b/.test(String(err.message)) ? 'url' : /\bevents\b/.test(String(err.message)) ? 'events' : null, text };
    } finally {
      state.addBusy = false;
    }
    await load();
    if (state.secret) body.querySelector('.webhook-secret')?.focus();
  }

  function secretBox() {
    const s = state.secret;
    if (!s) return null;
    const input = h('input', { type: 'text', class: 'mono', readonly: true, value: s.value, id: 'webhook-secret-value', 'aria-describedby': 'webhook-secret-hint', spellcheck: 'false' });
    const status = h('p', { class: 'hint', role: 'status', id: 'webhook-secret-copied' });
    const copy = async () => {
      try {
        await navigator.clipboard.writeText(s.value);
        status.textContent = 'Copied.';
      } catch {
        input.select();
        status.textContent = 'Selected: press Ctrl+C (⌘C on a Mac) to copy.';
      }
    };
    return h(
      'div',
      { class: 'notice notice-ok webhook-secret', tabindex: '-1', role: 'region', 'aria-label': 'Signing secret' },
      h('p', { class: 'notice-lead', text: s.rotated ? 'New signing secret' : 'Endpoint added. Its signing secret:' }),
      h('div', { class: 'field' }, h('label', { for: 'webhook-secret-value', class: 'visually-hidden', text: 'Signing secret' }), input),
      h('p', {
        class: 'notice-detail',
        id: 'webhook-secret-hint',
        text: s.rotated
          ? 'Shown only now: copy it into your receiver. For the next 24 hours every delivery is signed with both the old and the new secret, so you can switch at any time in that window.'
          : 'Shown only now: copy it into your receiver, which uses it to verify each delivery (Standard Webhooks). It cannot be shown again; rotate it if it is lost.',
      }),
      h(
        'div',
        { class: 'actions' },
        h('button', { type: 'button', class: 'btn btn-primary btn-small', text: 'Copy secret', onclick: () => void copy() }),
        h('button', {
          type: 'button',
          class: 'btn btn-small',
          text: 'Done',
          onclick: () => {
            state.secret = null;
            render();
          },
        }),
      ),
      status,
    );
  }

  function addForm() {
    if (!state.adding) {
      const full = state.list.length >= MAX_ENDPOINTS;
      return h(
        'div',
        { class: 'actions' },
        h('button', {
          type: 'button',
          class: 'btn btn-primary',
          id: 'webhook-add',
          text: 'Add endpoint',
          disabled: full,
          onclick: () => {
            state.adding = true;
            state.addError = null;
            render();
            body.querySelector('#webhook-url')?.focus();
          },
        }),
        full ? h('p', { class: 'hint', text: `At most ${MAX_ENDPOINTS} endpoints; delete one to add another.` }) : null,
      );
    }
    const err = state.addError;
    const urlError = err?.field === 'url' ? err.text : null;
    const eventsError = err?.field === 'events' ? err.text : null;
    return h(
      'form',
      { class: 'form webhook-form', id: 'webhook-form', novalidate: true, onsubmit: (ev) => void onAdd(ev) },
      h(
        'div',
        { class: 'field' },
        h('label', { for: 'webhook-url', text: 'Receiver URL' }),
        h('input', { id: 'webhook-url', name: 'url', type: 'url', placeholder: 'https://hooks.example.com/neo', autocomplete: 'off', spellcheck: 'false', required: true, 'aria-describedby': urlError ? 'webhook-url-error webhook-url-hint' : 'webhook-url-hint', 'aria-invalid': urlError ? 'true' : null }),
        h('p', { class: 'hint', id: 'webhook-url-hint', text: 'https only, on a public address. Neo POSTs each event there as JSON.' }),
        urlError ? h('p', { class: 'field-error', id: 'webhook-url-error', text: urlError }) : null,
      ),
      h(
        'div',
        { class: 'field' },
        h('label', { for: 'webhook-description', text: 'Description (optional)' }),
        h('input', { id: 'webhook-description', name: 'description', type: 'text', maxlength: '256', placeholder: 'On-call alerts', autocomplete: 'off' }),
      ),
      h(
        'fieldset',
        { class: 'field choice-group', 'aria-describedby': eventsError ? 'webhook-events-error' : null },
        h('legend', { text: 'Events' }),
        WEBHOOK_EVENTS.map((e) =>
          h('label', { class: 'choice' }, h('input', { type: 'checkbox', name: 'events', value: e.type, checked: Boolean(e.checked) }), h('span', {}, e.label, ' ', h('code', { class: 'event-type', text: e.type }))),
        ),
        eventsError ? h('p', { class: 'field-error', id: 'webhook-events-error', text: eventsError }) : null,
      ),
      err && !err.field ? h('p', { class: 'notice notice-error', role: 'alert', text: err.text }) : null,
      h(
        'div',
        { class: 'actions' },
        h('button', { type: 'submit', class: 'btn btn-primary', id: 'webhook-submit', text: state.addBusy ? 'Adding…' : 'Add endpoint', disabled: state.addBusy }),
        h('button', {
          type: 'button',
          class: 'btn',
          text: 'Cancel',
          onclick: () => {
            state.adding = false;
            state.addError = null;
            render();
          },
        }),
      ),
    );
  }

  function deliveryLine(d) {
    const [badgeClass, badgeText] = STATUS_BADGES[d.status] ?? ['badge-none', d.status];
    const result =
      d.last_status_code !== null && d.last_status_code !== undefined
        ? `HTTP ${d.last_status_code}`
        : d.last_error
          ? d.last_error
          : d.attempts === 0
            ? 'not sent yet'
            : '';
    return h(
      'li',
      { class: 'event delivery', 'data-status': d.status, 'data-event': d.event_type },
      h('p', { class: 'event-what' }, h('code', { text: d.event_type }), ' ', h('span', { class: `badge ${badgeClass}`, text: badgeText })),
      h(
        'p',
        { class: 'event-meta' },
        `${plural(d.attempts, 'attempt')}`,
        result ? ` · ${result}` : '',
        d.last_attempt_at ? [' · last ', time(d.last_attempt_at)] : '',
        d.status === 'pending' && d.next_attempt_at ? [' · next ', time(d.next_attempt_at)] : '',
      ),
      d.last_error && d.last_status_code !== null && d.last_status_code !== undefined ? h('p', { class: 'event-meta', text: d.last_error }) : null,
    );
  }

  function logView(w) {
    const log = state.logs.get(w.id);
    if (!log?.open) return null;
    let content;
    if (log.status === 'error') content = errorNotice(log.error, () => void loadLog(w.id, log.offset ?? 0));
    else if (!log.data) content = loading('Loading deliveries…');
    else if (log.data.length === 0) content = h('p', { class: 'muted', text: log.offset ? 'No older deliveries.' : 'No deliveries yet. Send a test to try the endpoint.' });
    else content = h('ol', { class: 'events deliveries' }, log.data.map(deliveryLine));
    const pager =
      log.data && (log.data.length || log.offset)
        ? h(
            'div',
            { class: 'pager' },
            h('button', { type: 'button', class: 'btn btn-small', text: 'Newer', disabled: !log.offset, onclick: () => void loadLog(w.id, Math.max(0, log.offset - LOG_PAGE)) }),
            h('span', { class: 'pager-info', text: log.data.length ? `${log.offset + 1}–${log.offset + log.data.length} of ${log.total}` : '0' }),
            h('button', { type: 'button', class: 'btn btn-small', text: 'Older', disabled: !log.hasMore, onclick: () => void loadLog(w.id, log.offset + LOG_PAGE) }),
          )
        : null;
    return h(
      'div',
      { class: 'webhook-log', 'aria-busy': log.status === 'loading' ? 'true' : 'false' },
      h('div', { class: 'card-head' }, h('h4', { text: 'Delivery log' }), h('button', { type: 'button', class: 'btn btn-small btn-quiet', text: 'Refresh', onclick: () => void loadLog(w.id, log.offset ?? 0) })),
      content,
      pager,
    );
  }

  function card(w) {
    const busy = state.busy.has(w.id);
    const msg = state.messages.get(w.id);
    const log = state.logs.get(w.id);
    const confirming = state.confirmDelete === w.id;
    const idPath = `${BASE}/${encodeURIComponent(w.id)}`;
    return h(
      'li',
      { class: `card webhook ${w.enabled ? 'is-configured' : ''}`, 'data-webhook-id': w.id },
      h(
        'div',
        { class: 'card-head' },
        h('h3', { class: 'webhook-url mono', text: w.url }),
        w.enabled ? h('span', { class: 'badge badge-ok', text: 'Enabled' }) : h('span', { class: 'badge badge-none', text: 'Disabled' }),
      ),
      w.description ? h('p', { class: 'card-about', text: w.description }) : null,
      !w.enabled && w.disabled_reason ? h('p', { class: 'notice notice-warn', text: `${DISABLED_REASONS[w.disabled_reason] ?? w.disabled_reason} Fix the receiver, then enable it again.` }) : null,
      w.enabled && w.failing_since ? h('p', { class: 'notice notice-warn' }, 'Deliveries have been failing since ', time(w.failing_since), '. Neo keeps retrying; after 3 days of failures it disables the endpoint.') : null,
      h('p', { class: 'card-about' }, 'Events: ', w.events.map((e, i) => [i ? ', ' : '', h('code', { text: e })])),
      w.previous_secret_expires_at ? h('p', { class: 'card-about' }, 'Signed with the old and the new secret until ', time(w.previous_secret_expires_at), '.') : null,
      msg ? (msg.err ? errorNotice(msg.err) : h('p', { class: `notice notice-${msg.kind}`, role: 'status', text: msg.text })) : null,
      h(
        'div',
        { class: 'actions' },
        h('button', {
          type: 'button',
          class: 'btn btn-small',
          text: 'Send test',
          disabled: busy || !w.enabled,
          onclick: () =>
            void act(
              w.id,
              async () => {
                await api('POST', `${idPath}/test`);
                state.messages.set(w.id, { kind: 'info', text: 'Test event sent. Its result appears in the delivery log.' });
                await loadLog(w.id, 0);
                // The worker sends it within a second or two: refresh once more then.
                setTimeout(() => {
                  if (state.logs.get(w.id)?.open) void loadLog(w.id, 0);
                }, 2000);
              },
              { reload: false },
            ),
        }),
        h('button', {
          type: 'button',
          class: 'btn btn-small',
          text: w.enabled ? 'Disable' : 'Enable',
          disabled: busy,
          onclick: () =>
            void act(w.id, async () => {
              await api('PATCH', idPath, { enabled: !w.enabled });
              state.messages.set(w.id, { kind: 'ok', text: w.enabled ? 'Disabled: nothing is sent until you enable it again.' : 'Enabled.' });
            }),
        }),
        h('button', {
          type: 'button',
          class: 'btn btn-small',
          text: log?.open ? 'Hide delivery log' : 'Delivery log',
          'aria-expanded': log?.open ? 'true' : 'false',
          onclick: () => {
            if (log?.open) {
              log.open = false;
              render();
            } else void loadLog(w.id, 0);
          },
        }),
        h('button', {
          type: 'button',
          class: 'btn btn-small',
          text: 'Rotate secret',
          disabled: busy,
          onclick: () =>
            void act(w.id, async () => {
              const res = await api('POST', `${idPath}/rotate-secret`);
              state.secret = { id: w.id, value: res.secret, rotated: true };
              state.messages.delete(w.id);
            }),
        }),
        confirming
          ? [
              h('button', {
                type: 'button',
                class: 'btn btn-small btn-danger',
                text: 'Confirm delete',
                disabled: busy,
                onclick: () =>
                  void act(w.id, async () => {
                    await api('DELETE', idPath);
                    state.confirmDelete = null;
                    state.logs.delete(w.id);
                    state.messages.delete(w.id);
                  }),
              }),
              h('button', {
                type: 'button',
                class: 'btn btn-small',
                text: 'Keep',
                onclick: () => {
                  state.confirmDelete = null;
                  render();
                },
              }),
            ]
          : h('button', {
              type: 'button',
              class: 'btn btn-small btn-danger-quiet',
              text: 'Delete',
              disabled: busy,
              onclick: () => {
                state.confirmDelete = w.id;
                render();
              },
            }),
      ),
      logView(w),
    );
  }

  function render() {
    section.setAttribute('aria-busy', state.status === 'loading' ? 'true' : 'false');
    if (state.status === 'error') {
      if (state.error?.code === 'byok_not_enabled') replace(body, h('p', { class: 'muted', text: 'Webhooks can be set up once BYOK is enabled.' }));
      else replace(body, errorNotice(state.error, () => void load()));
      return;
    }
    if (state.status !== 'ok' && state.list.length === 0) {
      replace(body, loading('Loading webhooks…'));
      return;
    }
    replace(
      body,
      secretBox(),
      state.list.length ? h('ul', { class: 'cards webhook-list' }, state.list.map(card)) : h('p', { class: 'muted', text: 'No endpoints yet.' }),
      addForm(),
    );
  }

  return { load, reset, show, render };
}
