// The BYOK settings page: sign-in, overview and mode switch, one card per provider,
// history. Plain ES modules, no framework, no build step. Every piece of data is
// rendered as text (see dom.js); secrets are wiped from the DOM once sent.

import { api, credential, describeError, parseCredential, setUnauthorizedHandler } from './api.js';
import { article, byId, h, loading, plural, replace, time } from './dom.js';
import { createProviderForm } from './forms.js';
import { PROVIDERS, providerName } from './providers.js';
import { createWebhooksSection } from './webhooks.js';

const AUDIT_PAGE = 10;
const MODE_NAMES = { neo: 'Neo platform keys', byok: 'your own provider keys (BYOK)' };
const ROLE_NAMES = { admin: 'admin', member: 'member', viewer: 'viewer' };

const state = {
  user: null,
  userError: null,
  mode: null,
  modeError: null,
  modeBusy: false,
  /** A message under the mode switch: { kind, text } */
  modeMessage: null,
  keys: new Map(),
  keysStatus: 'idle',
  keysError: null,
  audit: null,
  auditOffset: 0,
  auditStatus: 'idle',
  auditError: null,
  /** Bumped on sign-out so that late answers for the previous session are dropped. */
  generation: 0,
  /** The keyless setup help of this session: { gen, promise } (see loadFederation). */
  federation: null,
};

/** The Webhooks section (webhooks.js), made at start. */
let webhooks = null;

/** provider id → card parts */
const cards = new Map();
let dialogCard = null;

// ---------------------------------------------------------------- helpers

const isTeamMember = () => Boolean(state.user?.team) && state.user.team.role !== 'admin';
const isManager = () => Boolean(state.user) && !isTeamMember();
const byokEnabled = () => state.mode?.byok_enabled ?? state.user?.features?.byok ?? false;
const keyCount = () => (state.keysStatus === 'ok' ? state.keys.size : (state.mode?.provider_keys ?? 0));
const scopeWords = () => (state.user?.team ? `the whole team ${state.user.team.name}` : 'your account');

function errorBlock(err, retry) {
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

/** Capitalised, ending with a full stop: server messages read as sentences. */
function sentence(text) {
  const t = String(text ?? '').trim();
  if (!t) return '';
  const s = t[0].toUpperCase() + t.slice(1);
  return /[.!?]$/.test(s) ? s : `${s}.`;
}

function errorSentence(err) {
  const { lead, detail, extra } = describeError(err);
  return [lead, detail, extra].filter(Boolean).map(sentence).join(' ');
}

function show(view) {
  for (const id of ['view-signin', 'view-loading', 'view-app']) byId(id).hidden = id !== view;
  byId('session').hidden = view !== 'view-app';
}

function notify(kind, text) {
  const box = byId('global-notice');
  if (!text) {
    box.replaceChildren();
    return;
  }
  replace(
    box,
    h(
      'div',
      { class: `notice notice-${kind} notice-row` },
      h('p', { text }),
      h('button', { type: 'button', class: 'btn btn-small btn-quiet', text: 'Dismiss', onclick: () => box.replaceChildren() }),
    ),
  );
}

// ---------------------------------------------------------------- sign-in / sign-out

function signInError(text) {
  const el = byId('signin-error');
  el.textContent = text ?? '';
  el.hidden = !text;
  const input = byId('signin-credential');
  if (text) input.setAttribute('aria-invalid', 'true');
  else input.removeAttribute('aria-invalid');
}

async function signInWith(value, { restoring }) {
  const gen = state.generation;
  try {
    const [user, mode] = await Promise.all([
      api('GET', '/api/v1/user', undefined, { credential: value }),
      api('GET', '/api/v1/byok/mode', undefined, { credential: value }).catch((err) => ({ error: err })),
    ]);
    if (gen !== state.generation) return;
    credential.set(value);
    byId('signin-credential').value = '';
    signInError(null);
    await enter(user, mode);
  } catch (err) {
    if (gen !== state.generation) return;
    credential.clear();
    show('view-signin');
    if (err.code === 'unauthorized') {
      signInError(
        restoring
          ? 'Your sign-in is no longer valid. Sign in again.'
          : `This key or token was not accepted (${err.message}). Check that you copied all of it and that it has not been rotated, revoked or expired.`,
      );
    } else {
      signInError(`Could not sign in. ${errorSentence(err)}`);
    }
    byId('signin-credential').focus();
  }
}

async function onSignIn(ev) {
  ev.preventDefault();
  const input = byId('signin-credential');
  const parsed = parseCredential(input.value);
  if (parsed.problem) {
    signInError(parsed.problem);
    input.focus();
    return;
  }
  const button = byId('signin-submit');
  button.disabled = true;
  button.textContent = 'Signing in…';
  byId('signin-form').setAttribute('aria-busy', 'true');
  try {
    await signInWith(parsed.value, { restoring: false });
  } finally {
    button.disabled = false;
    button.textContent = 'Sign in';
    byId('signin-form').setAttribute('aria-busy', 'false');
  }
}

/** Forgets the credential and everything shown for it. */
function signOut(message) {
  state.generation += 1;
  credential.clear();
  Object.assign(state, {
    user: null,
    userError: null,
    mode: null,
    modeError: null,
    modeBusy: false,
    modeMessage: null,
    keysStatus: 'idle',
    keysError: null,
    audit: null,
    auditOffset: 0,
    auditStatus: 'idle',
    auditError: null,
  });
  state.keys.clear();
  const dlg = byId('delete-dialog');
  if (dlg.open) dlg.close();
  for (const c of cards.values()) c.form.close();
  cards.clear();
  byId('provider-list').replaceChildren();
  byId('providers-status').replaceChildren();
  byId('overview-body').replaceChildren();
  byId('history-body').replaceChildren();
  webhooks?.reset();
  webhooks?.show(false);
  byId('session-email').textContent = '';
  notify(null);
  show('view-signin');
  signInError(message ?? null);
  byId('signin-credential').focus();
}

async function enter(user, mode) {
  state.user = user;
  if (mode && !mode.error) state.mode = mode;
  else state.modeError = mode?.error ?? null;
  byId('session-email').textContent = user.email;
  show('view-app');
  renderOverview();
  byId('overview-title').focus();
  await loadManagerSections();
}

// ---------------------------------------------------------------- loading

/**
 * GETs `path` and hands the answer to `ok`, or the error to `fail`; false (and neither is
 * called) when the page moved on meanwhile (sign-out, another account), so the caller stops.
 */
async function fetchCurrent(path, ok, fail) {
  const gen = state.generation;
  try {
    const res = await api('GET', path);
    if (gen !== state.generation) return false;
    ok(res);
  } catch (err) {
    if (gen !== state.generation) return false;
    fail(err);
  }
  return true;
}

async function loadUser() {
  const current = await fetchCurrent(
    '/api/v1/user',
    (user) => {
      state.user = user;
      state.userError = null;
    },
    (err) => (state.userError = err),
  );
  if (!current) return;
  renderOverview();
  // The cards show the models each key reaches, which the profile lists in byok mode.
  if (state.keysStatus === 'ok') for (const c of cards.values()) renderCard(c);
}

async function loadMode() {
  const current = await fetchCurrent(
    '/api/v1/byok/mode',
    (mode) => {
      state.mode = mode;
      state.modeError = null;
    },
    (err) => (state.modeError = err),
  );
  if (current) renderOverview();
}

async function loadKeys() {
  state.keysStatus = 'loading';
  renderProvidersStatus();
  const current = await fetchCurrent(
    '/api/v1/byok/providers',
    (res) => {
      state.keys = new Map((res.provider_keys ?? []).map((k) => [k.provider, k]));
      state.keysStatus = 'ok';
      state.keysError = null;
    },
    (err) => {
      state.keysStatus = 'error';
      state.keysError = err;
    },
  );
  if (!current) return;
  renderProviders();
  renderOverview();
}

async function loadAudit(offset = state.auditOffset) {
  const gen = state.generation;
  state.auditStatus = 'loading';
  renderHistory();
  try {
    const res = await api('GET', `/api/v1/byok/audit?limit=${AUDIT_PAGE}&offset=${offset}`);
    if (gen !== state.generation) return;
    state.audit = res;
    state.auditOffset = offset;
    state.auditStatus = 'ok';
    state.auditError = null;
  } catch (err) {
    if (gen !== state.generation) return;
    state.auditStatus = 'error';
    state.auditError = err;
  }
  renderHistory();
}

/** Keys and history are only for solo users and team admins. */
async function loadManagerSections() {
  const manager = isManager();
  byId('providers').hidden = !manager;
  byId('history').hidden = !manager;
  webhooks?.show(manager);
  if (!manager) return;
  // Independent of the keys: its own loading state and errors (a flag turned off answers 403 there too).
  void webhooks?.load();
  buildCards();
  if (state.mode && !byokEnabled()) {
    state.keysStatus = 'disabled';
    renderProviders();
    await loadAudit(0);
    return;
  }
  await Promise.all([loadKeys(), loadAudit(0)]);
}

/** After a change: the mode, the profile (available models) and the first history page. */
async function refreshAfterChange() {
  await Promise.all([loadMode(), loadUser(), loadAudit(0)]);
}

// ---------------------------------------------------------------- overview

function modeReason() {
  if (isTeamMember()) {
    return `Only team admins can change the mode. Your role in ${state.user.team.name} is ${ROLE_NAMES[state.user.team.role] ?? state.user.team.role}.`;
  }
  if (!byokEnabled()) {
    return state.user?.team
      ? `BYOK is not enabled for the team ${state.user.team.name}. It is an enterprise feature: ask your Neo administrator to turn it on.`
      : 'BYOK is not enabled for your account. It is an enterprise feature: ask your Neo administrator to turn it on.';
  }
  if (state.mode.mode !== 'byok' && keyCount() === 0) return 'Add at least one provider key below before switching to BYOK.';
  return null;
}

function renderOverview() {
  const body = byId('overview-body');
  const overview = byId('overview');
  const { user, mode } = state;
  if (!user) {
    overview.setAttribute('aria-busy', 'true');
    replace(body, state.userError ? errorBlock(state.userError, () => void loadUser()) : loading('Loading your profile…'));
    return;
  }
  overview.setAttribute('aria-busy', mode || state.modeError ? 'false' : 'true');
  const team = user.team;
  const facts = h(
    'dl',
    { class: 'facts' },
    h('div', {}, h('dt', { text: 'Signed in as' }), h('dd', {}, user.email, user.role === 'admin' ? h('span', { class: 'tag', text: 'platform admin' }) : null)),
    h(
      'div',
      {},
      h('dt', { text: 'Team' }),
      h('dd', { text: team ? `${team.name} (your role: ${ROLE_NAMES[team.role] ?? team.role})` : 'No team: personal account' }),
    ),
    h('div', {}, h('dt', { text: 'BYOK settings apply to' }), h('dd', { text: team ? `everyone in ${team.name}` : 'you only' })),
    h(
      'div',
      {},
      h('dt', { text: 'Provider keys' }),
      h('dd', { id: 'key-count', text: mode || state.keysStatus === 'ok' ? `${plural(keyCount(), 'key')} configured` : '…' }),
    ),
  );

  let modeSection;
  if (state.modeError && !mode) {
    modeSection = errorBlock(state.modeError, () => void loadMode());
  } else if (!mode) {
    modeSection = loading('Loading the current mode…');
  } else {
    const isByok = mode.mode === 'byok';
    const reason = modeReason();
    const sw = h(
      'button',
      {
        type: 'button',
        role: 'switch',
        id: 'mode-switch',
        class: 'switch',
        'aria-checked': String(isByok),
        'aria-describedby': 'mode-reason',
        'aria-disabled': reason || state.modeBusy ? 'true' : null,
        'aria-busy': state.modeBusy ? 'true' : null,
        onclick: () => void onSwitch(),
      },
      h('span', { class: 'switch-thumb', 'aria-hidden': 'true' }),
    );
    const help =
      reason ??
      (isByok
        ? `Neo runs models with ${scopeWords() === 'your account' ? 'your' : 'the team’s'} provider keys. Turn off to go back to Neo platform keys.`
        : 'Turn on to have Neo run models with the provider keys below instead of its platform keys.');
    modeSection = h(
      'div',
      { class: 'mode' },
      h('h2', { class: 'mode-title', text: 'Which keys Neo uses' }),
      h(
        'p',
        { class: 'mode-current' },
        'Now: ',
        h('strong', { id: 'mode-value', text: MODE_NAMES[mode.mode] ?? mode.mode }),
        ' ',
        h('span', { class: 'muted', text: `(mode ${mode.mode})` }),
      ),
      h('div', { class: 'switch-row' }, sw, h('label', { for: 'mode-switch', class: 'switch-label', text: team ? 'Use the team’s own provider keys (BYOK)' : 'Use my own provider keys (BYOK)' })),
      h('p', { id: 'mode-reason', class: reason ? 'hint reason' : 'hint', text: help }),
      state.modeMessage
        ? h('p', { id: 'mode-message', class: `notice notice-${state.modeMessage.kind}`, role: state.modeMessage.kind === 'error' ? 'alert' : 'status', text: state.modeMessage.text })
        : null,
    );
  }

  const extras = [];
  if (isTeamMember()) {
    extras.push(
      h(
        'div',
        { class: 'notice notice-info', id: 'readonly-note' },
        h('p', { class: 'notice-lead', text: 'Only team admins manage BYOK.' }),
        h('p', {
          text: `You are a ${ROLE_NAMES[team.role] ?? team.role} of ${team.name}, so you can see which keys your team uses but cannot add, replace or delete provider keys or change the mode. Ask an admin of ${team.name} if something needs to change.`,
        }),
      ),
    );
  } else if (mode && !byokEnabled()) {
    extras.push(
      h(
        'div',
        { class: 'notice notice-info', id: 'flag-note' },
        h('p', { class: 'notice-lead', text: 'BYOK is not enabled yet.' }),
        h('p', { text: `${modeReason()} Until then Neo runs models with its platform keys.` }),
      ),
    );
  }
  const models = Array.isArray(user.available_models) ? user.available_models : null;
  if (models) {
    extras.push(
      h(
        'details',
        { class: 'models' },
        h('summary', { text: `Models you can use now: ${models.length}` }),
        models.length
          ? h('ul', { class: 'model-list' }, models.map((m) => h('li', {}, h('code', { text: m }))))
          : h('p', { class: 'hint', text: 'None: no saved key reaches a model Neo supports.' }),
      ),
    );
  }
  replace(body, facts, modeSection, extras);
}

async function onSwitch() {
  const sw = byId('mode-switch');
  if (sw.getAttribute('aria-disabled') === 'true') {
    byId('mode-reason').classList.add('flash');
    setTimeout(() => byId('mode-reason')?.classList.remove('flash'), 800);
    return;
  }
  const target = state.mode.mode === 'byok' ? 'neo' : 'byok';
  state.modeBusy = true;
  state.modeMessage = { kind: 'info', text: target === 'byok' ? 'Switching to your own keys…' : 'Switching to Neo platform keys…' };
  renderOverview();
  byId('mode-switch').focus();
  const gen = state.generation;
  try {
    const res = await api('PATCH', '/api/v1/byok/mode', { mode: target });
    if (gen !== state.generation) return;
    state.mode = { ...state.mode, mode: res.mode };
    state.modeMessage = {
      kind: 'ok',
      text: res.mode === 'byok' ? `BYOK is on: Neo now uses your provider keys for ${scopeWords()}.` : `Switched back: Neo now uses its platform keys for ${scopeWords()}.`,
    };
  } catch (err) {
    if (gen !== state.generation) return;
    state.modeMessage = { kind: 'error', text: `The mode was not changed. ${errorSentence(err)}` };
  } finally {
    if (gen === state.generation) {
      state.modeBusy = false;
      renderOverview();
      byId('mode-switch')?.focus();
    }
  }
  if (gen === state.generation) await refreshAfterChange();
}

// ---------------------------------------------------------------- provider cards

function buildCards() {
  if (cards.size) return;
  const list = byId('provider-list');
  for (const provider of PROVIDERS) {
    const titleId = `card-${provider.id}-title`;
    const card = {
      provider,
      badge: h('span', { class: 'badge' }),
      summary: h('div', { class: 'card-summary' }),
      outcome: h('div', { class: 'outcome', role: 'status', tabindex: '-1' }),
      toggleText: h('span', {}),
      toggle: null,
      del: null,
    };
    card.toggle = h('button', { type: 'button', class: 'btn', 'aria-controls': `form-${provider.id}`, onclick: () => openForm(card) }, card.toggleText, h('span', { class: 'visually-hidden', text: ` for ${provider.name}` }));
    card.checkText = h('span', { text: 'Check now' });
    card.check = h(
      'button',
      { type: 'button', class: 'btn', onclick: () => void checkStoredKey(card) },
      card.checkText,
      h('span', { class: 'visually-hidden', text: ` for ${provider.name}` }),
    );
    card.del = h(
      'button',
      { type: 'button', class: 'btn btn-danger-quiet', onclick: () => confirmDelete(card) },
      'Delete key',
      h('span', { class: 'visually-hidden', text: ` for ${provider.name}` }),
    );
    card.form = createProviderForm(provider, {
      onCheck: (body) => void checkKey(card, body),
      onSave: (body) => void saveKey(card, body),
      onCancel: () => closeForm(card),
      loadFederation,
    });
    card.root = h(
      'li',
      { class: 'card', id: `card-${provider.id}`, 'data-provider': provider.id },
      h(
        'article',
        { 'aria-labelledby': titleId },
        h('div', { class: 'card-head' }, h('h3', { id: titleId, text: provider.name }), card.badge),
        h('p', { class: 'card-about', text: provider.about }),
        card.summary,
        card.outcome,
        h('div', { class: 'actions card-actions' }, card.toggle, card.check, card.del),
        card.form.form,
      ),
    );
    cards.set(provider.id, card);
    list.append(card.root);
  }
}

/**
 * The setup help for connecting without a key (GET /api/v1/byok/federation), fetched once
 * per sign-in and shared by the three cloud forms; a failure is not kept, so reopening retries.
 */
function loadFederation() {
  const gen = state.generation;
  if (!state.federation || state.federation.gen !== gen) {
    const promise = api('GET', '/api/v1/byok/federation');
    state.federation = { gen, promise };
    promise.catch(() => {
      if (state.federation?.promise === promise) state.federation = null;
    });
  }
  return state.federation.promise;
}

function renderProvidersStatus() {
  const box = byId('providers-status');
  if (state.keysStatus === 'loading') replace(box, loading('Loading provider keys…'));
  else if (state.keysStatus === 'error') replace(box, errorBlock(state.keysError, () => void loadKeys()));
  else if (state.keysStatus === 'disabled') {
    replace(box, h('p', { class: 'notice notice-info', text: 'Provider keys can be added once BYOK is enabled (see above).' }));
  } else box.replaceChildren();
}

function renderProviders() {
  renderProvidersStatus();
  byId('provider-list').hidden = state.keysStatus !== 'ok';
  for (const card of cards.values()) renderCard(card);
}

/**
 * The models a saved key reaches: `models_count` (what the provider listed when the key
 * was last saved; null when that check listed nothing), plus how many of them Neo can
 * use when the profile says so (byok mode).
 */
function modelsReached(key) {
  if (typeof key.models_count !== 'number') return null;
  const reached = plural(key.models_count, 'model');
  const listed = Array.isArray(state.user?.byok_models) ? state.user.byok_models.filter((m) => m.provider === key.provider) : null;
  if (listed && listed.length) return `${reached}, ${listed.filter((m) => m.supported).length} usable in Neo`;
  return reached;
}

function renderCard(card) {
  const key = state.keys.get(card.provider.id);
  const p = card.provider;
  card.root.classList.toggle('is-configured', Boolean(key));
  if (!key) {
    card.root.classList.remove('is-unreadable');
    card.badge.className = 'badge badge-none';
    card.badge.textContent = 'Not configured';
    replace(card.summary, h('p', { class: 'muted', text: 'No key saved.' }));
    card.toggleText.textContent = 'Add key';
    card.del.hidden = true;
    card.check.hidden = true;
  } else {
    // `status: "unreadable"`: the stored secret no longer decrypts (altered or moved in
    // the database, or the master key changed). Neo cannot use it; the admin replaces or
    // deletes it. Its hint and facts still identify which key it was.
    const unreadable = key.status === 'unreadable';
    card.root.classList.toggle('is-unreadable', unreadable);
    const status = STATUS[key.status] ?? STATUS.unverified;
    card.badge.className = `badge badge-${status.tone}`;
    card.badge.textContent = status.label;
    card.badge.title = status.about;
    const health = healthText(key);
    const row = (label, ...value) => h('div', {}, h('dt', { text: label }), h('dd', {}, ...value));
    const models = modelsReached(key);
    replace(
      card.summary,
      unreadable
        ? h(
            'div',
            { class: 'notice notice-error key-unreadable' },
            h('p', { class: 'notice-lead', text: 'This key is unreadable — replace this key.' }),
            h('p', {
              class: 'notice-detail',
              text: `The stored key can no longer be decrypted: it was changed or moved in the database, or the server's master key is not the one it was saved with. Neo cannot use it: requests that would use this ${p.name} key fail until you replace it (Replace key) or delete it.`,
            }),
          )
        : null,
      h(
        'dl',
        { class: 'key-facts' },
        key.display_name ? row('Name', key.display_name) : null,
        row('Key', h('code', { class: 'key-hint', text: key.key_hint })),
        key.location ? row(p.kind === 'azure' ? 'Endpoint' : 'Region', h('code', { text: key.location })) : null,
        row('Status', h('span', { class: 'key-status' }, health)),
        models && !unreadable ? row('Models reached', models) : null,
        row('Saved', time(key.updated_at ?? key.created_at)),
        key.expires_at ? row('Expires', time(key.expires_at)) : null,
      ),
      h(
        'p',
        { class: 'key-usage' },
        h('span', { class: 'key-last-used' }, key.last_used_at ? ['Last used ', when(key.last_used_at)] : 'Never used'),
        ' · ',
        h('span', { class: 'key-last-checked' }, key.last_checked_at ? ['Last checked ', when(key.last_checked_at)] : 'Not checked yet'),
      ),
    );
    card.toggleText.textContent = 'Replace key';
    card.del.hidden = false;
    card.check.hidden = false;
  }
  card.toggle.hidden = card.form.isOpen;
}

/** Key health (docs/key-health.md): the badge's words, its tone, and what it means. */
const STATUS = {
  active: { label: 'Active', tone: 'ok', about: 'The provider accepted this key at the last check.' },
  unverified: { label: 'Not verified', tone: 'warn', about: 'The provider could not be asked yet; the key is used.' },
  restricted: { label: 'Restricted', tone: 'warn', about: 'The key works but lacks a permission, region or model.' },
  billing: { label: 'Billing problem', tone: 'warn', about: 'The key works but the account cannot pay.' },
  invalid: { label: 'Invalid', tone: 'error', about: 'The provider rejects this key; Neo does not use it. Replace it.' },
  unreadable: { label: 'Unreadable', tone: 'error', about: 'The stored key cannot be decrypted. Replace it.' },
};
const NEEDS_REASON = new Set(['invalid', 'restricted', 'billing']);

/** The Status line: the status in words, and the last check's message when it explains a problem. */
function healthText(key) {
  if (key.status === 'unreadable') return 'Unreadable — replace this key';
  const status = STATUS[key.status] ?? STATUS.unverified;
  if (NEEDS_REASON.has(key.status) && key.last_check_message) return `${status.label}: ${sentence(key.last_check_message)}`;
  if (key.status === 'unverified') return 'Not verified: the provider could not be asked yet. Use "Check now" to try again.';
  return status.about;
}

const RELATIVE = new Intl.RelativeTimeFormat(undefined, { numeric: 'auto' });
const UNITS = [
  ['day', 86_400_000],
  ['hour', 3_600_000],
  ['minute', 60_000],
];

/** "5 minutes ago" for the last week, else the date; the exact time in a <time> element. */
function when(iso) {
  const t = Date.parse(iso);
  const ago = Date.now() - t;
  if (Number.isNaN(t) || ago < 0 || ago > 7 * 86_400_000) return time(iso);
  const el = time(iso);
  if (ago < 60_000) el.textContent = 'just now';
  else {
    const [unit, ms] = UNITS.find(([, ms]) => ago >= ms);
    el.textContent = RELATIVE.format(-Math.floor(ago / ms), unit);
  }
  return el;
}

/** "Check now": the server re-checks the stored key with the provider and answers it refreshed. */
async function checkStoredKey(card) {
  const p = card.provider;
  const gen = state.generation;
  card.check.disabled = true;
  card.checkText.textContent = 'Checking…';
  setOutcome(card, 'info', `Checking the stored key with ${p.name}…`);
  try {
    const res = await api('POST', `/api/v1/byok/providers/${encodeURIComponent(p.id)}/check`);
    if (gen !== state.generation) return;
    const key = res.provider_key;
    state.keys.set(p.id, key);
    renderCard(card);
    const status = STATUS[key.status] ?? STATUS.unverified;
    const tone = status.tone === 'ok' ? 'ok' : status.tone === 'error' ? 'error' : 'warn';
    setOutcome(card, tone, `Checked: ${status.label}.`, key.last_check_message ?? null);
  } catch (err) {
    if (gen !== state.generation) return;
    if (err.code === 'not_exists') void loadKeys();
    setOutcome(card, 'error', 'The key was not checked.', errorSentence(err));
  } finally {
    if (gen === state.generation) {
      card.check.disabled = false;
      card.checkText.textContent = 'Check now';
    }
  }
}

function setOutcome(card, kind, lead, detail) {
  if (!lead) {
    card.outcome.replaceChildren();
    card.outcome.className = 'outcome';
    return;
  }
  card.outcome.className = `outcome notice notice-${kind}`;
  replace(card.outcome, h('p', { class: 'notice-lead', text: lead }), detail ? h('p', { class: 'notice-detail', text: sentence(detail) }) : null);
}

function openForm(card) {
  setOutcome(card, null);
  card.form.open(state.keys.get(card.provider.id));
  card.toggle.hidden = true;
}

function closeForm(card, { focus = true } = {}) {
  card.form.close();
  card.toggle.hidden = false;
  if (focus) card.toggle.focus();
}

/** The `details` of a restricted or billing outcome without its "Warning:" prefix. */
const warningText = (v) => (typeof v.details === 'string' ? v.details.replace(/^warning:\s*/i, '') : null);

/**
 * The check's outcome (ValidationResult.outcome: accepted, restricted, billing,
 * rejected, rate_limited, unavailable, unchecked). Without one, `valid: false` is read
 * as inconclusive: a key is never called rejected on a guess.
 */
const outcomeOf = (v) => (typeof v.outcome === 'string' ? v.outcome : v.valid ? 'accepted' : 'unavailable');

/**
 * The lead of a refusal: a wrong or unreachable endpoint (the provider never saw the key)
 * is said as such, not as the provider refusing the key.
 */
function rejectedLead(providerLabel, message, tail) {
  if (/wrong endpoint|could not be reached|did not resolve|no .* answers at this host/i.test(String(message ?? ''))) {
    return `Not reached: ${providerLabel} could not be reached at this endpoint, so the key was not checked. ${tail}`;
  }
  return `Rejected: ${providerLabel} did not accept this key. ${tail}`;
}

/** Words for a check or save result, chosen by its outcome (docs/spec/PROVIDERS.md rule 3). */
function validationWords(v, saved, providerLabel) {
  const outcome = outcomeOf(v);
  const warning = outcome === 'restricted' || outcome === 'billing' ? warningText(v) || `${providerLabel} accepted the key with a warning.` : null;
  if (saved) {
    if (outcome === 'accepted') return { kind: 'ok', lead: 'Saved and verified.', detail: v.details || `${providerLabel} accepted the key.` };
    if (warning) return { kind: 'warn', lead: 'Saved with a warning.', detail: warning };
    return {
      kind: 'warn',
      lead: 'Saved, but not verified.',
      detail: `${sentence(v.error || `${providerLabel} could not be asked right now`)} The key is stored and will be used; replace it later to check it again.`,
    };
  }
  if (outcome === 'accepted') return { kind: 'ok', lead: 'The key works. It is not saved yet.', detail: v.details || `${providerLabel} accepted the key.` };
  if (warning) return { kind: 'warn', lead: 'The key works, with a warning. It is not saved yet.', detail: warning };
  if (outcome === 'rejected') {
    return { kind: 'error', lead: rejectedLead(providerLabel, v.error || v.details, 'Nothing was saved.'), detail: v.error || v.details || null };
  }
  if (outcome === 'unchecked') {
    return { kind: 'warn', lead: `${providerLabel} keys cannot be checked before saving. Nothing was saved.`, detail: v.error, inconclusive: true };
  }
  return { kind: 'warn', lead: 'The key could not be checked right now. Nothing was saved.', detail: v.error, inconclusive: true };
}

async function checkKey(card, body) {
  const p = card.provider;
  const gen = state.generation;
  card.form.setBusy(true);
  setOutcome(card, 'info', `Checking the key with ${p.name}…`);
  try {
    const res = await api('POST', `/api/v1/byok/providers/${encodeURIComponent(p.id)}/validate`, body);
    if (gen !== state.generation) return;
    const words = validationWords(res, false, p.name);
    setOutcome(card, words.kind, words.lead, words.detail);
    // A key that works (or could not be checked) can be saved without pasting it again.
    card.form.setPending(words.kind === 'error' ? null : body.api_key);
  } catch (err) {
    if (gen !== state.generation) return;
    const placed = err.code === 'invalid_request' && card.form.fieldFromMessage(err.message);
    setOutcome(card, 'error', 'The key was not checked.', placed ? null : errorSentence(err));
    card.form.setPending(err.code === 'provider_key_invalid' ? null : body.api_key);
  } finally {
    if (gen === state.generation) {
      card.form.wipeSecrets();
      card.form.setBusy(false);
    }
  }
}

async function saveKey(card, body) {
  const p = card.provider;
  const gen = state.generation;
  card.form.setBusy(true);
  setOutcome(card, 'info', `Checking the key with ${p.name} and saving it…`);
  let saved = false;
  let placed = false;
  try {
    const res = await api('PATCH', `/api/v1/byok/providers/${encodeURIComponent(p.id)}`, body);
    if (gen !== state.generation) return;
    saved = true;
    state.keys.set(p.id, res.provider_key);
    state.keysStatus = 'ok';
    const words = validationWords(res.validation, true, p.name);
    card.form.close();
    renderCard(card);
    setOutcome(card, words.kind, words.lead, words.detail);
    card.outcome.focus();
  } catch (err) {
    if (gen !== state.generation) return;
    if (err.code === 'provider_key_invalid') {
      setOutcome(card, 'error', rejectedLead(p.name, err.message, 'Nothing was saved.'), err.message);
      card.form.setPending(null);
      // An unreachable endpoint is the endpoint's fault, not the key's.
      if (/endpoint|could not be reached|did not resolve/i.test(String(err.message))) placed = card.form.focusLocation();
    } else if (err.code === 'invalid_request') {
      // The message goes to the field it names (shown once, there), else under the lead.
      placed = card.form.fieldFromMessage(err.message);
      setOutcome(card, 'error', 'Not saved: something in the form needs fixing.', placed ? null : err.message);
      card.form.setPending(body.api_key, 'entered');
    } else {
      setOutcome(card, 'error', 'Not saved.', errorSentence(err));
      card.form.setPending(body.api_key, 'entered');
    }
  } finally {
    if (gen === state.generation) {
      card.form.wipeSecrets();
      card.form.setBusy(false);
      if (!saved && !placed) card.form.focusSecret();
    }
  }
  if (saved && gen === state.generation) {
    renderOverview();
    await refreshAfterChange();
    renderCard(card);
  }
}

// ---------------------------------------------------------------- delete dialog

function confirmDelete(card) {
  const p = card.provider;
  const dlg = byId('delete-dialog');
  dialogCard = card;
  byId('delete-title').textContent = `Delete the ${p.name} key?`;
  byId('delete-body').textContent = `Neo stops using this key at once and erases it. You can add ${article(p.name)} ${p.name} key again later.`;
  const warning = byId('delete-warning');
  const remaining = keyCount() - 1;
  if (state.mode?.mode === 'byok' && remaining <= 0) {
    warning.textContent = `This is the last provider key and BYOK is on: deleting it switches ${scopeWords()} back to Neo platform keys (mode neo).`;
    warning.hidden = false;
  } else if (state.mode?.mode === 'byok') {
    warning.textContent = `BYOK stays on with the ${remaining} other ${remaining === 1 ? 'key' : 'keys'}; models only ${p.name} served stop being available.`;
    warning.hidden = false;
  } else {
    warning.textContent = '';
    warning.hidden = true;
  }
  byId('delete-error').hidden = true;
  const confirm = byId('delete-confirm');
  confirm.disabled = false;
  confirm.textContent = 'Delete key';
  dlg.showModal();
  byId('delete-cancel').focus();
}

async function onConfirmDelete() {
  const card = dialogCard;
  if (!card) return;
  const p = card.provider;
  const confirm = byId('delete-confirm');
  const gen = state.generation;
  confirm.disabled = true;
  confirm.textContent = 'Deleting…';
  try {
    const res = await api('DELETE', `/api/v1/byok/providers/${encodeURIComponent(p.id)}`);
    if (gen !== state.generation) return;
    state.keys.delete(p.id);
    byId('delete-dialog').close();
    renderCard(card);
    setOutcome(card, 'ok', `The ${p.name} key was deleted.`);
    if (res.auto_switched) {
      notify('warn', 'That was the last provider key, so the mode switched back to Neo platform keys (neo).');
    }
    card.toggle.focus();
    await refreshAfterChange();
  } catch (err) {
    if (gen !== state.generation) return;
    if (err.code === 'not_exists') {
      byId('delete-dialog').close();
      setOutcome(card, 'info', `There was no ${p.name} key any more (it was deleted elsewhere).`);
      await Promise.all([loadKeys(), refreshAfterChange()]);
      return;
    }
    const e = byId('delete-error');
    e.textContent = `The key was not deleted. ${errorSentence(err)}`;
    e.hidden = false;
    confirm.disabled = false;
    confirm.textContent = 'Delete key';
  }
}

function onDialogClose() {
  const card = dialogCard;
  dialogCard = null;
  if (!card || !card.root.isConnected) return;
  // Focus goes back to the button that opened the dialog, or to its card when it is gone.
  if (!card.del.hidden) card.del.focus();
  else card.toggle.focus();
}

// ---------------------------------------------------------------- history

function describeEvent(e) {
  const p = e.provider ? providerName(e.provider) : 'provider';
  switch (e.action) {
    case 'provider_key.created':
      return `Added the ${p} key`;
    case 'provider_key.updated':
      return `Replaced the ${p} key`;
    case 'provider_key.deleted':
      return `Deleted the ${p} key`;
    case 'mode.changed':
      return `Switched from ${MODE_NAMES[e.from_mode] ?? e.from_mode} to ${MODE_NAMES[e.to_mode] ?? e.to_mode}`;
    case 'mode.auto_switched':
      return `Switched back to ${MODE_NAMES[e.to_mode] ?? e.to_mode} automatically: the last key was deleted`;
    case 'webhook.created':
      return 'Added a webhook endpoint';
    case 'webhook.updated':
      return e.changed_fields?.length ? `Changed a webhook endpoint (${e.changed_fields.join(', ')})` : 'Changed a webhook endpoint';
    case 'webhook.secret_rotated':
      return 'Rotated the signing secret of a webhook endpoint';
    case 'webhook.deleted':
      return 'Deleted a webhook endpoint';
    case 'webhook.disabled':
      return e.outcome === 'gone' ? 'Disabled a webhook endpoint: its receiver answered 410 Gone' : 'Disabled a webhook endpoint: every delivery failed for 3 days';
    default:
      return String(e.action);
  }
}

function renderHistory() {
  const body = byId('history-body');
  const section = byId('history');
  section.setAttribute('aria-busy', state.auditStatus === 'loading' ? 'true' : 'false');
  if (state.auditStatus === 'error') {
    if (state.auditError?.code === 'byok_not_enabled') {
      replace(body, h('p', { class: 'muted', text: 'The history appears once BYOK is enabled.' }));
    } else {
      replace(body, errorBlock(state.auditError, () => void loadAudit()));
    }
    return;
  }
  if (!state.audit) {
    replace(body, loading('Loading history…'));
    return;
  }
  const { data = [], total, has_more: hasMore } = state.audit;
  const offset = state.auditOffset;
  const list = data.length
    ? h(
        'ol',
        { class: 'events', start: String(offset + 1) },
        data.map((e) =>
          h(
            'li',
            { class: 'event', 'data-action': e.action },
            h('p', { class: 'event-what', text: describeEvent(e) }),
            h('p', { class: 'event-meta' }, e.actor?.email ? `by ${e.actor.email} · ` : '', time(e.created_at)),
          ),
        ),
      )
    : h('p', { class: 'muted', text: offset ? 'No more changes.' : 'No changes yet.' });
  const shown = data.length ? `${offset + 1}–${offset + data.length}` : '0';
  const pager = h(
    'div',
    { class: 'pager' },
    h('button', {
      type: 'button',
      class: 'btn btn-small',
      text: 'Newer',
      disabled: offset === 0 || state.auditStatus === 'loading',
      onclick: () => void loadAudit(Math.max(0, offset - AUDIT_PAGE)),
    }),
    h('span', { class: 'pager-info', id: 'history-range', text: typeof total === 'number' ? `${shown} of ${total}` : shown }),
    h('button', {
      type: 'button',
      class: 'btn btn-small',
      text: 'Older',
      disabled: !hasMore || state.auditStatus === 'loading',
      onclick: () => void loadAudit(offset + AUDIT_PAGE),
    }),
  );
  replace(body, state.auditStatus === 'loading' ? loading('Loading history…') : null, list, data.length || offset ? pager : null);
}

// ---------------------------------------------------------------- start

function start() {
  setUnauthorizedHandler(() => {
    if (state.user) signOut('Your sign-in is no longer valid (the key was rotated or revoked, or the token expired). Sign in again.');
  });
  byId('signin-form').addEventListener('submit', (ev) => void onSignIn(ev));
  byId('sign-out').addEventListener('click', () => signOut(null));
  byId('delete-cancel').addEventListener('click', () => byId('delete-dialog').close());
  byId('delete-confirm').addEventListener('click', () => void onConfirmDelete());
  byId('delete-dialog').addEventListener('close', onDialogClose);
  webhooks = createWebhooksSection({ section: byId('webhooks'), body: byId('webhooks-body'), generation: () => state.generation });
  const stored = credential.get();
  if (stored) {
    show('view-loading');
    void signInWith(stored, { restoring: true });
  } else {
    show('view-signin');
  }
}

start();
