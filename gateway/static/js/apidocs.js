// Renders /api/openapi.json as a page: each operation with its parameters,
// request body and responses, and the schemas they name. Plain DOM, no
// framework: the document is small and written for people as much as tools.

const el = (tag, attrs = {}, ...children) => {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
  for (const c of children) e.append(c);
  return e;
};

/** `#/components/schemas/X` → a link to X's section; inline types as text. */
function typeOf(schema) {
  if (!schema) return '';
  if (schema.$ref) {
    const name = schema.$ref.split('/').pop();
    return el('a', { href: `#schema-${name}` }, name);
  }
  if (schema.type === 'array') {
    const span = el('span', {}, 'array of ');
    span.append(typeOf(schema.items));
    return span;
  }
  const t = Array.isArray(schema.type) ? schema.type.join(' | ') : schema.type || 'object';
  return schema.enum ? `${t} (${schema.enum.join(', ')})` : t;
}

function params(list, doc) {
  const rows = (list || []).map((p) => (p.$ref ? resolve(doc, p.$ref) : p));
  if (!rows.length) return null;
  const table = el('table', {}, el('tr', {}, el('th', {}, 'parameter'), el('th', {}, 'in'), el('th', {}, 'type'), el('th', {}, '')));
  for (const p of rows) {
    table.append(el('tr', {},
      el('td', {}, el('code', {}, p.name), p.required ? ' *' : ''),
      el('td', {}, p.in),
      el('td', {}, typeOf(p.schema)),
      el('td', {}, p.description || '')));
  }
  return table;
}

function resolve(doc, ref) {
  return ref.replace(/^#\//, '').split('/').reduce((o, k) => (o ? o[k] : undefined), doc);
}

function responses(map, doc) {
  const table = el('table', {}, el('tr', {}, el('th', {}, 'status'), el('th', {}, 'meaning'), el('th', {}, 'body')));
  for (const [status, r0] of Object.entries(map || {})) {
    const r = r0.$ref ? resolve(doc, r0.$ref) : r0;
    const json = r.content && r.content['application/json'];
    table.append(el('tr', {},
      el('td', {}, el('code', {}, status)),
      el('td', {}, r.description || ''),
      el('td', {}, json && json.schema ? typeOf(json.schema) : '')));
  }
  return table;
}

function operation(doc, path, method, op) {
  const isPublic = Array.isArray(op.security) && op.security.length === 0;
  const box = el('section', { class: 'op', id: `${method}-${path}` },
    el('div', {},
      el('span', { class: 'method' }, method),
      el('span', { class: 'path' }, path),
      isPublic ? el('span', { class: 'public' }, 'public') : ''),
    el('p', {}, op.summary || ''));
  if (op.description) box.append(el('p', {}, op.description));
  const p = params(op.parameters, doc);
  if (p) box.append(p);
  const body = op.requestBody && op.requestBody.content && op.requestBody.content['application/json'];
  if (body) box.append(el('p', {}, 'Request body (JSON): ', typeOf(body.schema)));
  box.append(responses(op.responses, doc));
  return box;
}

function schemaSection(name, schema) {
  const box = el('section', { class: 'op', id: `schema-${name}` }, el('h3', {}, name));
  const props = schema.properties || {};
  if (!Object.keys(props).length) {
    box.append(el('p', {}, typeOf(schema.additionalProperties ? { type: 'object of strings' } : schema)));
    return box;
  }
  const table = el('table', {}, el('tr', {}, el('th', {}, 'field'), el('th', {}, 'type'), el('th', {}, '')));
  for (const [k, v] of Object.entries(props)) {
    table.append(el('tr', {}, el('td', {}, el('code', {}, k)), el('td', {}, typeOf(v)), el('td', {}, v.description || '')));
  }
  box.append(table);
  return box;
}

async function main() {
  const root = document.getElementById('doc');
  let doc;
  try {
    const r = await fetch('/api/openapi.json');
    if (!r.ok) throw new Error(`HTTP ${r.status}`);
    doc = await r.json();
  } catch (e) {
    root.textContent = `Could not load /api/openapi.json: ${e.message}`;
    return;
  }
  root.replaceChildren(
    el('h2', {}, `${doc.info.title} (v${doc.info.version})`),
    el('p', {}, doc.info.description || ''));
  for (const [path, ops] of Object.entries(doc.paths)) {
    for (const [method, op] of Object.entries(ops)) root.append(operation(doc, path, method, op));
  }
  root.append(el('h2', {}, 'Schemas'));
  for (const [name, schema] of Object.entries(doc.components.schemas)) root.append(schemaSection(name, schema));
}

main();
