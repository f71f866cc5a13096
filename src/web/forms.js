// The per-provider key form: the right fields for each kind of credential, reading them
// into an API body, and wiping every secret field once it has been sent.

import { h } from './dom.js';
import { AZURE_ENDPOINT_FORMATS } from './providers.js';

const MAX_SECRET = 16384;

/**
 * "Connect without a key" (docs/keyless-cloud.md): the fields of each cloud's federated
 * credential (sent as the JSON credential in `api_key`; none of them is a secret) and
 * which part of `GET /api/v1/byok/federation` explains the setup.
 */
const KEYLESS = {
  bedrock: {
    section: 'aws',
    label: 'Without a key (IAM role)',
    about: 'Neo assumes an IAM role in your account with a short-lived token it signs; no AWS key is stored. Create the OIDC provider and the role with the commands below, then enter the role ARN.',
    fields: [{ name: 'role_arn', label: 'Role ARN', placeholder: 'arn:aws:iam::123456789012:role/neo-byok-bedrock', required: true }],
  },
  vertex: {
    section: 'google',
    label: 'Without a key (Workload Identity Federation)',
    about: 'Neo exchanges a short-lived token it signs at Google for access to Vertex AI; no service-account key is stored. Create the pool and provider with the commands below, then enter their names.',
    fields: [
      { name: 'workload_identity_provider', label: 'Workload identity provider', placeholder: 'projects/123456789012/locations/global/workloadIdentityPools/neo-byok/providers/neo-byok', required: true },
      { name: 'project_id', label: 'Project id', placeholder: 'my-project', required: true },
      { name: 'service_account_email', label: 'Service account email (optional)', placeholder: 'neo-byok-vertex@my-project.iam.gserviceaccount.com', required: false, hint: 'Only if you set up a service account for Neo to act as (the optional commands).' },
    ],
  },
  azure: {
    section: 'azure',
    label: 'Without a key (Microsoft Entra workload identity)',
    about: 'Neo signs in to Microsoft Entra as your app registration with a short-lived token it signs; no resource key or client secret is stored. Create the app and its federated credential with the commands below, then enter its ids.',
    fields: [
      { name: 'tenant_id', label: 'Directory (tenant) id', placeholder: '00000000-0000-0000-0000-000000000000', required: true },
      { name: 'client_id', label: 'Application (client) id', placeholder: '11111111-1111-1111-1111-111111111111', required: true },
    ],
  },
};

/** A block of commands or JSON, selectable as a whole. */
const codeBlock = (label, text) =>
  h('figure', { class: 'code-block' }, h('figcaption', { text: label }), h('pre', { tabindex: '0' }, h('code', { text })));

/** The setup help of one cloud from `GET /api/v1/byok/federation`. */
function renderKeylessHelp(kind, help) {
  const section = help[KEYLESS[kind].section];
  const facts = [
    ['Issuer', help.issuer],
    ['Subject (sub)', help.subject],
    ['Audience (aud)', section.audience ?? section.audience_format],
  ];
  if (kind === 'vertex') facts.push(['Attribute condition', section.attribute_condition]);
  const out = [
    h('p', { class: 'hint', text: `Set up once in your ${kind === 'bedrock' ? 'AWS account' : kind === 'vertex' ? 'Google Cloud project' : 'Microsoft Entra tenant'}. These values are for ${help.resource_type === 'team' ? 'your team' : 'you'} only: another team's tokens carry another subject and are refused by this trust.` }),
    h('dl', { class: 'keyless-facts' }, facts.map(([k, v]) => [h('dt', { text: k }), h('dd', {}, h('code', { text: v }))])),
  ];
  if (kind === 'bedrock') {
    out.push(codeBlock('Trust policy (trust-policy.json)', JSON.stringify(section.trust_policy, null, 2)));
    out.push(codeBlock('Permissions policy (bedrock-policy.json)', JSON.stringify(section.permissions_policy, null, 2)));
  }
  out.push(codeBlock('Commands', section.commands.join('\n')));
  if (kind === 'vertex') out.push(codeBlock('Optional: act as a service account', section.service_account_commands.join('\n')));
  out.push(codeBlock('Check the setup', section.verify.join('\n')));
  return out;
}


const MAX_NAME = 128;
const MAX_FILE = 64 * 1024;

function field(id, labelText, control, hintText, extraClass = '') {
  const hintId = hintText ? `${id}-hint` : null;
  const errorId = `${id}-error`;
  control.setAttribute('aria-describedby', [hintId, errorId].filter(Boolean).join(' '));
  return h(
    'div',
    { class: `field ${extraClass}`.trim() },
    h('label', { for: id, text: labelText }),
    control,
    hintText ? h('div', { id: hintId, class: 'hint' }, hintText) : null,
    h('p', { id: errorId, class: 'field-error', hidden: true }),
  );
}

const secretInput = (id, placeholder) =>
  h('input', {
    id,
    type: 'password',
    autocomplete: 'off',
    spellcheck: 'false',
    autocapitalize: 'off',
    placeholder: placeholder || null,
    'data-secret': 'true',
  });

function regionField(provider, id) {
  const listId = `${id}-options`;
  const input = h('input', {
    id,
    type: 'text',
    list: listId,
    autocomplete: 'off',
    spellcheck: 'false',
    autocapitalize: 'off',
    value: provider.defaultLocation,
  });
  const datalist = h('datalist', { id: listId }, provider.regions.map((r) => h('option', { value: r })));
  const hint =
    provider.kind === 'vertex'
      ? `The Google Cloud region Neo calls Vertex AI in (default ${provider.defaultLocation}). Pick one or type another.`
      : `The AWS region Neo calls Bedrock in (default ${provider.defaultLocation}). Pick one or type another.`;
  const wrap = field(id, 'Region', input, hint);
  wrap.append(datalist);
  return wrap;
}

/**
 * Builds the form of one provider. Handlers: onCheck(body), onSave(body), onCancel().
 * Returns the form element and the operations the page needs.
 */
export function createProviderForm(provider, handlers) {
  const p = provider.id;
  const ids = {
    name: `f-${p}-name`,
    key: `f-${p}-key`,
    json: `f-${p}-json`,
    file: `f-${p}-file`,
    region: `f-${p}-region`,
    endpoint: `f-${p}-endpoint`,
    akid: `f-${p}-akid`,
    secret: `f-${p}-secret`,
    session: `f-${p}-session`,
  };
  // A key that was checked and then wiped from its field, kept in memory (not in the DOM)
  // so that "Check" then "Save" does not need a second paste.
  let pending = null;

  const pendingNote = h('p', { class: 'notice notice-info pending-note', hidden: true });
  const formError = h('p', { class: 'notice notice-error', role: 'alert', hidden: true });
  const fields = h('div', { class: 'fields' });
  let bedrockMode = 'apikey';
  const bedrockGroups = {};
  const keyless = KEYLESS[provider.kind] ?? null;
  /** 'key' (a stored secret) or 'keyless' (a federated credential), for the clouds that offer both. */
  let connectMode = 'key';
  const keyGroup = h('div', { class: 'group' });
  const keylessHelp = h('div', { class: 'keyless-help', role: 'region', 'aria-label': `${provider.name}: setting up a connection without a key` });
  let keylessGroup = null;
  let helpState = 'idle';
  const keylessId = (name) => `f-${p}-fed-${name}`;

  async function loadKeylessHelp() {
    if (helpState === 'loading' || helpState === 'ok') return;
    helpState = 'loading';
    keylessHelp.replaceChildren(h('p', { class: 'hint', role: 'status', text: 'Loading the setup instructions…' }));
    try {
      const help = await handlers.loadFederation();
      keylessHelp.replaceChildren(...renderKeylessHelp(provider.kind, help));
      helpState = 'ok';
    } catch (err) {
      helpState = 'error';
      const notConfigured = err?.code === 'oidc_issuer_not_configured';
      keylessHelp.replaceChildren(
        h(
          'p',
          { class: `notice ${notConfigured ? 'notice-info' : 'notice-error'}`, role: 'alert' },
          notConfigured ? 'Connecting without a key is not available on this server yet. ' : 'The setup instructions could not be loaded. ',
          String(err?.message ?? err).replace(/^[a-z ]+: /, ''),
        ),
      );
    }
  }

  if (provider.kind === 'key') {
    fields.append(
      field(ids.key, 'API key', secretInput(ids.key, provider.placeholder), provider.help),
    );
  } else if (provider.kind === 'azure') {
    fields.append(
      field(
        ids.endpoint,
        'Endpoint URL',
        h('input', { id: ids.endpoint, type: 'url', inputmode: 'url', autocomplete: 'off', spellcheck: 'false', autocapitalize: 'off', placeholder: 'https://my-resource.openai.azure.com' }),
        [
          'Your Azure resource endpoint, from the Azure portal → your resource → Keys and Endpoint. One of:',
          h('ul', { class: 'formats' }, AZURE_ENDPOINT_FORMATS.map((f) => h('li', {}, h('code', { text: f })))),
          'Only these Azure hosts are accepted; paste the base URL without a path.',
        ],
      ),
    );
    keyGroup.append(field(ids.key, 'Resource key', secretInput(ids.key, ''), 'KEY 1 or KEY 2 from the same Keys and Endpoint page.'));
  } else if (provider.kind === 'vertex') {
    const textarea = h('textarea', {
      id: ids.json,
      rows: '6',
      spellcheck: 'false',
      autocomplete: 'off',
      autocapitalize: 'off',
      placeholder: '{ "type": "service_account", "project_id": "…", "client_email": "…", "private_key": "…" }',
      'data-secret': 'true',
      class: 'mono',
    });
    const file = h('input', { id: ids.file, type: 'file', accept: 'application/json,.json' });
    const fileStatus = h('p', { class: 'hint file-status', role: 'status' });
    file.addEventListener('change', async () => {
      const chosen = file.files?.[0];
      if (!chosen) return;
      if (chosen.size > MAX_FILE) {
        fileStatus.textContent = `${chosen.name} is larger than 64 KiB; a service-account key file is about 2 KiB. Choose the JSON key file.`;
        file.value = '';
        return;
      }
      const text = await chosen.text();
      textarea.value = text;
      file.value = '';
      let who = '';
      try {
        const parsed = JSON.parse(text);
        if (parsed && typeof parsed.client_email === 'string') who = ` (service account ${parsed.client_email})`;
      } catch {
        /* the server explains what is wrong with it */
      }
      fileStatus.textContent = `Loaded ${chosen.name}${who}.`;
    });
    keyGroup.append(
      field(
        ids.json,
        'Service-account key (JSON)',
        textarea,
        'Paste the whole JSON key file of a Google Cloud service account that has the Vertex AI User role (Google Cloud console → IAM & Admin → Service accounts → Keys → Add key → JSON).',
      ),
      h('div', { class: 'field' }, h('label', { for: ids.file, text: 'Or choose the key file' }), file, fileStatus),
    );
    fields.append(regionField(provider, ids.region));
  } else if (provider.kind === 'bedrock') {
    const radio = (value, text) =>
      h(
        'label',
        { class: 'choice' },
        h('input', { type: 'radio', name: `f-${p}-auth`, value, checked: value === bedrockMode }),
        ' ',
        text,
      );
    const choice = h(
      'fieldset',
      { class: 'field choice-group' },
      h('legend', { text: 'How Neo signs in to AWS' }),
      radio('apikey', 'Bedrock API key'),
      radio('sigv4', 'IAM access keys (SigV4)'),
      h(
        'p',
        { class: 'hint' },
        'A Bedrock API key is created in the Bedrock console → API keys and works on its own. IAM access keys are an access key id (AKIA… or ASIA…) and its secret, plus a session token for temporary credentials; the page sends them to Neo as one JSON credential and Neo signs each request with them (AWS Signature Version 4).',
      ),
    );
    bedrockGroups.apikey = h('div', { class: 'group' }, field(ids.key, 'Bedrock API key', secretInput(ids.key, ''), null));
    bedrockGroups.sigv4 = h(
      'div',
      { class: 'group', hidden: true },
      field(ids.akid, 'Access key id', h('input', { id: ids.akid, type: 'text', autocomplete: 'off', spellcheck: 'false', autocapitalize: 'off', placeholder: 'AKIA…' }), null),
      field(ids.secret, 'Secret access key', secretInput(ids.secret, ''), null),
      field(ids.session, 'Session token (optional)', secretInput(ids.session, ''), 'Only for temporary credentials (access key ids starting with ASIA).'),
    );
    choice.addEventListener('change', (ev) => {
      if (ev.target?.name !== `f-${p}-auth`) return;
      bedrockMode = ev.target.value;
      bedrockGroups.apikey.hidden = bedrockMode !== 'apikey';
      bedrockGroups.sigv4.hidden = bedrockMode !== 'sigv4';
    });
    keyGroup.append(choice, bedrockGroups.apikey, bedrockGroups.sigv4);
    fields.append(regionField(provider, ids.region));
  }

  if (keyless) {
    // "Connect without a key": a choice before the fields, the setup help, the federated credential's fields.
    const radio = (value, text) =>
      h('label', { class: 'choice' }, h('input', { type: 'radio', name: `f-${p}-connect`, value, checked: value === connectMode }), ' ', text);
    const connectChoice = h(
      'fieldset',
      { class: 'field choice-group connect-choice' },
      h('legend', { text: 'How Neo connects' }),
      radio('key', 'With a key'),
      radio('keyless', `Connect without a key: ${keyless.label.replace(/^Without a key \(|\)$/g, '')}`),
    );
    keylessGroup = h(
      'div',
      { class: 'group keyless-group', hidden: true },
      h('p', { class: 'hint', text: keyless.about }),
      keylessHelp,
      keyless.fields.map((f) =>
        field(
          keylessId(f.name),
          f.label,
          h('input', { id: keylessId(f.name), type: 'text', autocomplete: 'off', spellcheck: 'false', autocapitalize: 'off', placeholder: f.placeholder, 'data-federated': f.name }),
          f.hint ?? null,
        ),
      ),
    );
    connectChoice.addEventListener('change', (ev) => {
      if (ev.target?.name !== `f-${p}-connect`) return;
      connectMode = ev.target.value;
      keyGroup.hidden = connectMode !== 'key';
      keylessGroup.hidden = connectMode !== 'keyless';
      if (connectMode === 'keyless') void loadKeylessHelp();
    });
    // The Azure endpoint stays first (both ways need it); the choice and the groups follow the location.
    if (provider.kind === 'azure') fields.append(connectChoice, keyGroup, keylessGroup);
    else fields.prepend(connectChoice, keyGroup, keylessGroup);
  }

  fields.append(
    field(
      ids.name,
      'Display name (optional)',
      h('input', { id: ids.name, type: 'text', autocomplete: 'off', maxlength: String(MAX_NAME), placeholder: 'e.g. Production key' }),
      'A label for you and your team, e.g. which account the key belongs to.',
    ),
  );

  const checkBtn = h('button', { type: 'button', class: 'btn', text: 'Check' });
  const saveBtn = h('button', { type: 'submit', class: 'btn btn-primary', text: 'Save' });
  const cancelBtn = h('button', { type: 'button', class: 'btn btn-quiet', text: 'Cancel' });
  const form = h(
    'form',
    { class: 'form provider-form', id: `form-${p}`, novalidate: true, 'aria-label': `${provider.name} key`, hidden: true },
    fields,
    pendingNote,
    formError,
    h('p', { class: 'hint' }, '“Check” asks the provider whether the key works without saving it. “Save” checks it again and stores it encrypted.'),
    h('div', { class: 'actions' }, saveBtn, checkBtn, cancelBtn),
  );

  const el = (id) => form.querySelector(`#${CSS.escape(id)}`);

  function clearErrors() {
    formError.hidden = true;
    formError.textContent = '';
    for (const e of form.querySelectorAll('.field-error')) {
      e.hidden = true;
      e.textContent = '';
    }
    for (const i of form.querySelectorAll('[aria-invalid]')) i.removeAttribute('aria-invalid');
  }

  function fieldError(id, message) {
    const input = el(id);
    const err = el(`${id}-error`);
    if (input) input.setAttribute('aria-invalid', 'true');
    if (err) {
      err.textContent = message;
      err.hidden = false;
    }
    input?.focus();
    return null;
  }

  /** Wipes every secret field (and the file picker) from the DOM. */
  function wipeSecrets() {
    for (const i of form.querySelectorAll('[data-secret], input[type=file]')) i.value = '';
    const status = form.querySelector('.file-status');
    if (status) status.textContent = '';
  }

  /** Holds a key in the page (not on screen); `how` says whether it was checked or only entered. */
  function setPending(secret, how = 'checked') {
    pending = secret;
    pendingNote.hidden = !secret;
    pendingNote.textContent = !secret
      ? ''
      : how === 'checked'
        ? 'The key you checked is held in this page (not on screen). Press Save to store it, or enter a different key.'
        : 'The key you entered is held in this page (not on screen). Press Save to try again, or enter a different key.';
  }

  /** The secret from the fields, or the pending checked one; `null` after showing an error. */
  function readSecret() {
    if (keyless && connectMode === 'keyless') {
      const credential = {};
      for (const f of keyless.fields) {
        const v = el(keylessId(f.name)).value.trim();
        if (v) credential[f.name] = v;
        else if (f.required) return fieldError(keylessId(f.name), `Enter the ${f.label.toLowerCase()}.`);
      }
      return JSON.stringify(credential);
    }
    if (provider.kind === 'vertex') {
      const v = el(ids.json).value.trim();
      if (!v) return pending ?? fieldError(ids.json, 'Paste the service-account JSON or choose the key file.');
      try {
        const parsed = JSON.parse(v);
        if (!parsed || typeof parsed !== 'object' || Array.isArray(parsed)) throw new Error('not an object');
      } catch {
        return fieldError(ids.json, 'This is not valid JSON. Paste the whole key file, from { to }.');
      }
      return v;
    }
    if (provider.kind === 'bedrock' && bedrockMode === 'sigv4') {
      const akid = el(ids.akid).value.trim();
      const secret = el(ids.secret).value.trim();
      const session = el(ids.session).value.trim();
      // The access key id stays on screen (it is not secret); the held credential is used
      // when the secret fields are empty and the id is the one it was made with.
      if (!secret && !session && pending && (!akid || pending.includes(JSON.stringify(akid)))) return pending;
      if (!akid) return fieldError(ids.akid, 'Enter the access key id.');
      if (!secret) return fieldError(ids.secret, 'Enter the secret access key.');
      return JSON.stringify({ access_key_id: akid, secret_access_key: secret, ...(session ? { session_token: session } : {}) });
    }
    const v = el(ids.key).value.trim();
    if (!v) return pending ?? fieldError(ids.key, 'Enter the key.');
    return v;
  }

  function secretFieldId() {
    if (keyless && connectMode === 'keyless') return keylessId(keyless.fields[0].name);
    if (provider.kind === 'vertex') return ids.json;
    // With the (kept) access key id filled in, the secret is what needs entering.
    if (provider.kind === 'bedrock' && bedrockMode === 'sigv4') return el(ids.akid).value.trim() ? ids.secret : ids.akid;
    return ids.key;
  }

  function readLocation() {
    if (provider.kind === 'key') return { ok: true, value: null };
    if (provider.kind === 'azure') {
      const v = el(ids.endpoint).value.trim();
      if (!v) return { ok: false, error: fieldError(ids.endpoint, 'Enter the endpoint URL of your Azure resource.') };
      let url;
      try {
        url = new URL(v);
      } catch {
        return { ok: false, error: fieldError(ids.endpoint, 'This is not a URL. It looks like https://my-resource.openai.azure.com') };
      }
      if (url.protocol !== 'https:' && url.protocol !== 'http:') {
        return { ok: false, error: fieldError(ids.endpoint, 'The endpoint must start with https://') };
      }
      return { ok: true, value: v };
    }
    const v = el(ids.region).value.trim();
    return { ok: true, value: v || provider.defaultLocation };
  }

  /** Reads the form into an API body (`withName`: the PATCH body), or null after showing errors. */
  function read(withName) {
    clearErrors();
    const loc = readLocation();
    if (!loc.ok) return null;
    const apiKey = readSecret();
    if (apiKey === null) return null;
    if (apiKey.length > MAX_SECRET) return fieldError(secretFieldId(), 'This is longer than any key Neo accepts (16384 characters).');
    const body = { api_key: apiKey };
    if (loc.value !== null) body.location = loc.value;
    if (withName) {
      const name = el(ids.name).value.trim();
      if (name.length > MAX_NAME) return fieldError(ids.name, `Use at most ${MAX_NAME} characters.`);
      if (/[\u0000-\u001f\u007f]/.test(name)) return fieldError(ids.name, 'Remove tabs and other control characters from the name.');
      body.display_name = name === '' ? null : name;
    }
    return body;
  }

  function setBusy(busy) {
    for (const b of [checkBtn, saveBtn, cancelBtn]) b.disabled = busy;
    form.setAttribute('aria-busy', busy ? 'true' : 'false');
  }

  checkBtn.addEventListener('click', () => {
    const body = read(false);
    if (body) handlers.onCheck(body);
  });
  form.addEventListener('submit', (ev) => {
    ev.preventDefault();
    const body = read(true);
    if (body) handlers.onSave(body);
  });
  cancelBtn.addEventListener('click', () => handlers.onCancel());
  form.addEventListener('keydown', (ev) => {
    if (ev.key === 'Escape') {
      ev.preventDefault();
      handlers.onCancel();
    }
  });

  return {
    form,
    /** Shows the form, pre-filled with the stored key's non-secret fields. */
    open(existing) {
      clearErrors();
      wipeSecrets();
      if (provider.kind === 'bedrock') el(ids.akid).value = '';
      setPending(null);
      el(ids.name).value = existing?.display_name ?? '';
      if (provider.kind === 'vertex' || provider.kind === 'bedrock') el(ids.region).value = existing?.location || provider.defaultLocation;
      if (provider.kind === 'azure') el(ids.endpoint).value = existing?.location ?? '';
      saveBtn.textContent = existing ? 'Save new key' : 'Save';
      form.hidden = false;
      // The help names the signed-in owner: fetched again for each opening (cached per session by the page).
      helpState = 'idle';
      if (keyless && connectMode === 'keyless') void loadKeylessHelp();
      const first = provider.kind === 'azure' && !existing ? el(ids.endpoint) : form.querySelector('[data-secret], input:not([type=radio])');
      first?.focus();
    },
    close() {
      wipeSecrets();
      if (provider.kind === 'bedrock') el(ids.akid).value = '';
      setPending(null);
      clearErrors();
      form.hidden = true;
    },
    wipeSecrets,
    setPending,
    setBusy,
    /** Shows a message at the form level (e.g. a rejected key) and focuses the secret field. */
    showError(message) {
      formError.textContent = message;
      formError.hidden = false;
    },
    focusSecret() {
      el(secretFieldId())?.focus();
    },
    /** Focuses the endpoint (Azure) or region field; false when the form has none. */
    focusLocation() {
      const input = provider.kind === 'azure' ? el(ids.endpoint) : provider.kind === 'key' ? null : el(ids.region);
      input?.focus();
      return Boolean(input);
    },
    /** Puts a server-side 400 on the field it names, when it names one. */
    fieldFromMessage(message) {
      const m = String(message);
      let id = null;
      if (/location|endpoint|region/i.test(m)) id = provider.kind === 'azure' ? ids.endpoint : provider.kind === 'key' ? null : ids.region;
      else if (/display_name/i.test(m)) id = ids.name;
      else if (keyless && connectMode === 'keyless' && keyless.fields.some((f) => m.includes(f.name))) id = keylessId(keyless.fields.find((f) => m.includes(f.name)).name);
      else if (/api_key/i.test(m)) id = secretFieldId();
      if (!id || !el(id)) return false;
      fieldError(id, m);
      return true;
    },
    get isOpen() {
      return !form.hidden;
    },
  };
}
