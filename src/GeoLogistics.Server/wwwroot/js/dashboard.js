// The live board (SPEC §11). Its first state comes from REST, read once; every change after that arrives over the
// WebSocket and is applied by version, so a replayed or repeated event changes nothing twice. No timers fetch data.
import { api, describe } from './api.js';
import { LiveSocket } from './live.js';
import { CityMap } from './map.js';

const STATUSES = ['PENDING', 'CONFIRMED', 'ACCEPTED', 'READY_FOR_PICKUP', 'ASSIGNED', 'PICKED_UP', 'IN_TRANSIT', 'DELIVERED', 'CANCELLED'];
const LABELS = {
  PENDING: 'Pending', CONFIRMED: 'Confirmed', ACCEPTED: 'Accepted', READY_FOR_PICKUP: 'Ready for pickup', ASSIGNED: 'Assigned',
  PICKED_UP: 'Picked up', IN_TRANSIT: 'In transit', DELIVERED: 'Delivered', CANCELLED: 'Cancelled',
};
const FINAL = new Set(['DELIVERED', 'CANCELLED']);
const ASSIGNABLE = new Set(['PENDING', 'READY_FOR_PICKUP', 'ASSIGNED']);
const CANCELLABLE = new Set(['PENDING', 'CONFIRMED', 'ACCEPTED', 'READY_FOR_PICKUP', 'ASSIGNED']);
const PER_COLUMN = 50;
const STATE_TEXT = { connecting: 'Connecting…', 'catching-up': 'Catching up…', live: 'Live', reconnecting: 'Reconnecting…' };

const $ = (id) => document.getElementById(id);

const state = {
  me: null,
  orders: new Map(), // id → order (the newest version seen)
  counts: Object.fromEntries(STATUSES.map((s) => [s, 0])),
  deleted: new Set(),
  drivers: new Map(), // id → { id, name, status, version, location }
  ready: false, // the REST snapshot is in; until then events wait in `buffer`
  buffer: [],
  selectedId: null,
  edit: null, // { id, version, dirty }
  travelled: [],
  picks: { pickup: null, dropoff: null },
};

const map = new CityMap($('map'), { onPick: pick });
let socket;

// ---- start-up -------------------------------------------------------------------------------------------------

async function main() {
  state.me = await api('/api/me');
  $('who').textContent = `${state.me.name ?? state.me.email} · ${state.me.role}`;
  document.body.dataset.role = state.me.role;
  const mayDispatch = state.me.role === 'admin' || state.me.role === 'dispatcher';
  $('create').hidden = !mayDispatch;
  if (state.me.role === 'admin') {
    const tenants = await api('/api/tenants');
    $('create-tenant').replaceChildren(...tenants.map((t) => new Option(t.name, t.id)));
    $('create-tenant-row').hidden = false;
  }
  renderColumns();
  bindForms();

  socket = new LiveSocket(
    [
      { id: 'board', topic: 'orders', owns: (type) => type.startsWith('order.') },
      { id: 'fleet', topic: 'drivers', owns: (type) => type.startsWith('driver.') },
    ],
    {
      // The first connection reads the snapshot; a later one only if that read never completed.
      onAck: (_, first) => { if (first || !state.ready) loadSnapshot().catch(snapshotFailed); },
      onMessage: receive,
      onState: showConnection,
      onReplayUnavailable: () => loadSnapshot().catch(snapshotFailed),
      sessionEnded,
    });
  socket.start();
}

/** The board's state as of one instant; events that arrived meanwhile are applied on top of it by version. */
async function loadSnapshot() {
  state.ready = false;
  const [board, drivers, city] = await Promise.all([
    api('/api/orders/board?limit=100'),
    state.me.role === 'customer' ? [] : api('/api/drivers?limit=1000'),
    state.cityDrawn ? null : api('/api/map').catch(() => null),
  ]);
  state.orders = new Map(board.orders.map((o) => [o.id, o]));
  state.counts = Object.fromEntries(board.counts.map((c) => [c.status, c.count]));
  for (const d of drivers) mergeDriver(d);
  if (city) {
    const points = [...board.orders.flatMap((o) => [o.pickup, o.dropoff]), ...drivers.filter((d) => d.location).map((d) => d.location)];
    map.setCity(city, points);
    $('city-name').textContent = `· ${city.name}`;
    state.cityDrawn = true;
    prefillCreateForm(city);
  }
  state.ready = true;
  const waiting = state.buffer;
  state.buffer = [];
  waiting.forEach(apply);
  document.body.dataset.ready = 'true';
  render();
}

function snapshotFailed(error) {
  if (error?.status === 401) return;
  $('connection').textContent = `Could not load the board: ${describe(error)}`;
  $('connection').dataset.state = 'error';
}

async function sessionEnded() {
  try {
    const response = await fetch('/api/me', { credentials: 'same-origin' });
    if (response.status === 401) {
      location.assign('/login');
      return true;
    }
  } catch {
    // The server is away; keep trying.
  }
  return false;
}

// ---- events ---------------------------------------------------------------------------------------------------

function receive(message) {
  if (!state.ready) {
    state.buffer.push(message);
    return;
  }
  apply(message);
  render();
}

function apply(message) {
  switch (message.type) {
    case 'driver.location': {
      const driver = state.drivers.get(message.driverId) ?? { id: message.driverId, name: 'Driver', status: 'busy', version: 0 };
      if (!driver.location || !driver.location.at || message.ts >= driver.location.at) {
        driver.location = { lat: message.lat, lng: message.lng, heading: message.heading, speed: message.speed, at: message.ts };
      }
      state.drivers.set(driver.id, driver);
      const selected = state.orders.get(state.selectedId);
      if (selected && selected.driverId === message.driverId && message.orderId === selected.id) {
        state.travelled.push({ lat: message.lat, lng: message.lng });
      }
      return;
    }
    case 'driver.status_changed':
      mergeDriver(message.data);
      return;
    case 'order.eta': {
      const order = state.orders.get(message.orderId);
      if (order) order.etaMinutes = message.etaMinutes;
      return;
    }
    case 'order.driver_arriving':
      if (message.orderId === state.selectedId) {
        $('details-message').textContent = `The driver is arriving at the ${message.leg}.`;
      }
      return;
    case 'order.conflict':
      return; // someone's save lost a race; our own saves learn it from their 409
    default:
      if (message.type.startsWith('order.') && message.data?.id) applyOrder(message);
  }
}

function applyOrder(event) {
  const order = event.data;
  const known = state.orders.get(order.id);
  if (event.type === 'order.deleted') {
    if (state.deleted.has(order.id)) return;
    state.deleted.add(order.id);
    state.counts[known?.status ?? order.status]--;
    state.orders.delete(order.id);
    if (state.selectedId === order.id) closeDetails();
    return;
  }
  if (state.deleted.has(order.id) || (known && order.version < known.version)) return;
  if (known) {
    state.counts[known.status]--;
  }
  state.counts[order.status] = (state.counts[order.status] ?? 0) + 1;
  state.orders.set(order.id, order);
  if (order.id === state.selectedId) {
    detailsChanged(order, event);
  }
}

function mergeDriver(dto) {
  const known = state.drivers.get(dto.id);
  if (known && dto.version < known.version) return;
  const location = [known?.location, dto.location].filter(Boolean).sort((a, b) => (a.at < b.at ? 1 : -1))[0];
  state.drivers.set(dto.id, { id: dto.id, name: dto.name, status: dto.status, version: dto.version, location });
}

// ---- rendering ------------------------------------------------------------------------------------------------

let frame = 0;
function render() {
  if (frame) return;
  frame = requestAnimationFrame(() => {
    frame = 0;
    renderBoard();
    renderMap();
    renderDetails();
  });
}

function renderColumns() {
  $('columns').replaceChildren(...STATUSES.map((status) => {
    const column = document.createElement('section');
    column.className = 'column';
    column.dataset.status = status;
    column.setAttribute('aria-labelledby', `col-${status}`);
    column.innerHTML = `<h3 id="col-${status}">${LABELS[status]} <span class="count" data-count-for="${status}">0</span></h3><ul class="cards"></ul><p class="more" hidden></p>`;
    return column;
  }));
}

function renderBoard() {
  const focused = document.activeElement?.closest?.('.card')?.dataset.orderId;
  const byStatus = Object.fromEntries(STATUSES.map((s) => [s, []]));
  for (const o of state.orders.values()) byStatus[o.status]?.push(o);
  for (const status of STATUSES) {
    const column = document.querySelector(`.column[data-status="${status}"]`);
    const orders = byStatus[status].sort((a, b) => (a.createdAt < b.createdAt ? 1 : -1)).slice(0, PER_COLUMN);
    const count = Math.max(state.counts[status] ?? 0, byStatus[status].length);
    column.querySelector('.count').textContent = count;
    column.querySelector('.cards').replaceChildren(...orders.map(card));
    const more = column.querySelector('.more');
    more.hidden = count <= orders.length;
    more.textContent = `and ${count - orders.length} more`;
  }
  if (focused) document.querySelector(`.card[data-order-id="${focused}"]`)?.focus();
}

function card(order) {
  const li = document.createElement('li');
  const button = document.createElement('button');
  button.type = 'button';
  button.className = 'card';
  button.dataset.orderId = order.id;
  button.dataset.status = order.status;
  button.dataset.version = order.version;
  button.setAttribute('aria-pressed', String(order.id === state.selectedId));
  const driver = order.driverId ? state.drivers.get(order.driverId)?.name ?? 'a driver' : null;
  const eta = order.etaMinutes != null && !FINAL.has(order.status) ? `ETA ${Math.round(order.etaMinutes)} min` : '';
  button.innerHTML = `<span class="card-top"><strong class="number"></strong><span class="kind"></span></span>
    <span class="route"></span><span class="card-bottom"><span class="driver"></span><span class="eta"></span></span>`;
  button.querySelector('.number').textContent = `#${order.number}`;
  button.querySelector('.kind').textContent = [order.kind, order.priority ? `P${order.priority}` : null].filter(Boolean).join(' · ');
  button.querySelector('.route').textContent = `${order.pickup.address ?? place(order.pickup)} → ${order.dropoff.address ?? place(order.dropoff)}`;
  button.querySelector('.driver').textContent = driver ?? (order.dispatchFailure ? `No driver: ${order.dispatchFailure}` : '');
  button.querySelector('.eta').textContent = eta;
  button.addEventListener('click', () => select(order.id));
  li.appendChild(button);
  return li;
}

const place = (p) => `${p.lat.toFixed(4)}, ${p.lng.toFixed(4)}`;

function renderMap() {
  const active = [...state.orders.values()].filter((o) => !FINAL.has(o.status));
  map.renderOrders(active, state.drivers, state.selectedId, state.travelled);
  map.renderDrivers(state.drivers);
  map.renderPicks(state.picks);
}

function showConnection(status) {
  const indicator = $('connection');
  indicator.dataset.state = status;
  indicator.textContent = STATE_TEXT[status] ?? status;
}

// ---- order details, edit, assign, cancel ----------------------------------------------------------------------

async function select(id) {
  state.selectedId = id;
  state.travelled = [];
  const order = state.orders.get(id);
  $('details').hidden = false;
  $('details-message').textContent = '';
  hideConflict();
  fillEditForm(order);
  render();
  try {
    const full = await api(`/api/orders/${id}`);
    if (state.selectedId !== id) return;
    state.history = full.history ?? [];
    if (!FINAL.has(full.status) && full.driverId) {
      const tracking = await api(`/api/orders/${id}/tracking`);
      if (state.selectedId === id) state.travelled = tracking.route.map((p) => ({ lat: p.lat, lng: p.lng }));
    }
  } catch (error) {
    $('details-message').textContent = describe(error);
  }
  render();
  $('details-title').focus?.();
}

function closeDetails() {
  state.selectedId = null;
  state.edit = null;
  state.travelled = [];
  $('details').hidden = true;
  render();
}

function renderDetails() {
  const order = state.orders.get(state.selectedId);
  if (!order) return;
  $('details-title').textContent = `Order #${order.number}`;
  const driver = order.driverId ? state.drivers.get(order.driverId) : null;
  const facts = [
    ['Status', LABELS[order.status]],
    ['Version', order.version],
    ['Pickup', order.pickup.address ?? place(order.pickup)],
    ['Dropoff', order.dropoff.address ?? place(order.dropoff)],
    ['Driver', driver ? `${driver.name} (${driver.status})` : order.driverId ? order.driverId : '—'],
    ['ETA', order.etaMinutes != null && !FINAL.has(order.status) ? `${Math.round(order.etaMinutes)} min` : '—'],
    ['Created', new Date(order.createdAt).toLocaleString()],
  ];
  if (order.dispatchFailure) facts.push(['Dispatch', order.dispatchFailure]);
  $('details-facts').replaceChildren(...facts.flatMap(([k, v]) => {
    const dt = document.createElement('dt');
    dt.textContent = k;
    const dd = document.createElement('dd');
    dd.textContent = v;
    dd.dataset.fact = k.toLowerCase();
    return [dt, dd];
  }));
  $('details-history').replaceChildren(...(state.history ?? []).map((h) => {
    const li = document.createElement('li');
    li.textContent = `${new Date(h.at).toLocaleTimeString()} · ${LABELS[h.status] ?? h.status} · ${h.actor?.email ?? 'system'}`;
    return li;
  }));
  const mayDispatch = state.me.role === 'admin' || state.me.role === 'dispatcher';
  $('edit-form').hidden = !mayDispatch || FINAL.has(order.status);
  $('assign-form').hidden = !mayDispatch || !ASSIGNABLE.has(order.status);
  $('cancel-order').hidden = !CANCELLABLE.has(order.status) || state.me.role === 'driver';
  const select = $('assign-driver');
  const current = select.value;
  const drivers = [...state.drivers.values()].filter((d) => d.status === 'available')
    .sort((a, b) => a.name.localeCompare(b.name));
  select.replaceChildren(...drivers.map((d) => new Option(d.name, d.id)));
  if (drivers.some((d) => d.id === current)) select.value = current;
}

function fillEditForm(order) {
  const form = $('edit-form');
  form.kind.value = order.kind ?? '';
  form.priority.value = order.priority ?? 0;
  form.notes.value = order.notes ?? '';
  state.edit = { id: order.id, version: order.version, dirty: false };
}

/** A newer version of the open order arrived: refresh a clean form; warn over a dirty one. */
function detailsChanged(order, event) {
  if (event.type === 'order.status_changed' || event.type === 'order.assigned' || event.type === 'order.cancelled' || event.type === 'order.created') {
    const last = state.history?.at(-1);
    if (state.history && (!last || last.status !== order.status)) {
      state.history.push({ status: order.status, at: event.ts, actor: event.actor });
    }
  }
  if (!state.edit || state.edit.id !== order.id || order.version <= state.edit.version) return;
  if (state.edit.dirty) {
    showConflict(`Someone else changed this order while you were editing: it is now at version ${order.version}.`, order);
  } else {
    fillEditForm(order);
  }
}

function showConflict(text, current) {
  $('conflict-text').textContent = text;
  $('conflict-notice').hidden = false;
  $('conflict-load').onclick = () => {
    fillEditForm(state.orders.get(current.id)?.version > current.version ? state.orders.get(current.id) : current);
    hideConflict();
  };
}

function hideConflict() {
  $('conflict-notice').hidden = true;
}

// ---- creating -------------------------------------------------------------------------------------------------

function pick(point) {
  const form = $('create-form');
  if ($('create').hidden) return;
  const target = form.pickTarget.value;
  form[`${target}Lat`].value = point.lat;
  form[`${target}Lng`].value = point.lng;
  state.picks[target] = point;
  if (target === 'pickup') form.pickTarget.value = 'dropoff';
  render();
}

function prefillCreateForm(city) {
  const form = $('create-form');
  const { minLat, maxLat, minLng, maxLng } = city.bounds;
  if (!form.pickupLat.value) {
    form.pickupLat.placeholder = ((minLat + maxLat) / 2).toFixed(4);
    form.pickupLng.placeholder = ((minLng + maxLng) / 2).toFixed(4);
  }
}

function bindForms() {
  $('logout').addEventListener('click', async () => {
    socket?.stop();
    await fetch('/api/auth/session', { method: 'DELETE', credentials: 'same-origin' }).catch(() => {});
    location.replace('/login');
  });
  $('details-close').addEventListener('click', closeDetails);
  document.addEventListener('keydown', (e) => { if (e.key === 'Escape' && state.selectedId) closeDetails(); });

  const edit = $('edit-form');
  edit.addEventListener('input', () => { if (state.edit) state.edit.dirty = true; });
  edit.addEventListener('submit', async (e) => {
    e.preventDefault();
    const { id, version } = state.edit;
    const priority = edit.priority.value === '' ? null : Number(edit.priority.value);
    try {
      const saved = await api(`/api/orders/${id}`, {
        method: 'PATCH',
        body: { version, kind: edit.kind.value.trim() || null, priority, notes: edit.notes.value },
      });
      applyOrder({ type: 'order.updated', data: saved });
      fillEditForm(saved);
      hideConflict();
      $('details-message').textContent = `Saved: version ${saved.version}.`;
    } catch (error) {
      if (error.status === 409 && error.problem.current) {
        showConflict(`Not saved: someone else changed this order. It is now at version ${error.problem.currentVersion}.`, error.problem.current);
      } else {
        $('details-message').textContent = describe(error);
      }
    }
    render();
  });

  $('assign-form').addEventListener('submit', async (e) => {
    e.preventDefault();
    const driverId = $('assign-driver').value;
    if (!driverId) {
      $('details-message').textContent = 'No free driver to assign.';
      return;
    }
    try {
      await api(`/api/orders/${state.selectedId}/assign`, { method: 'POST', body: { driverId } });
      $('details-message').textContent = 'Assigned.';
    } catch (error) {
      $('details-message').textContent = describe(error);
    }
  });

  $('cancel-order').addEventListener('click', async () => {
    try {
      await api(`/api/orders/${state.selectedId}/cancel`, { method: 'POST' });
      $('details-message').textContent = 'Cancelled.';
    } catch (error) {
      $('details-message').textContent = describe(error);
    }
  });

  const create = $('create-form');
  create.addEventListener('input', (e) => {
    const m = /^(pickup|dropoff)(Lat|Lng)$/.exec(e.target.name ?? '');
    if (m) {
      state.picks[m[1]] = { lat: parseFloat(create[`${m[1]}Lat`].value), lng: parseFloat(create[`${m[1]}Lng`].value) };
      render();
    }
  });
  let idempotencyKey = crypto.randomUUID();
  create.addEventListener('submit', async (e) => {
    e.preventDefault();
    const message = $('create-message');
    const number = (name) => (create[name].value === '' ? null : Number(create[name].value));
    const body = {
      pickup: { lat: number('pickupLat'), lng: number('pickupLng'), address: create.pickupAddress.value.trim() || null },
      dropoff: { lat: number('dropoffLat'), lng: number('dropoffLng'), address: create.dropoffAddress.value.trim() || null },
      kind: create.kind.value.trim() || null,
      priority: number('priority') ?? 0,
      notes: create.notes.value.trim() || null,
    };
    if (!$('create-tenant-row').hidden) body.tenantId = create.tenantId.value;
    if ([body.pickup.lat, body.pickup.lng, body.dropoff.lat, body.dropoff.lng].some((v) => v == null)) {
      message.textContent = 'Set the pickup and the dropoff: click the map or type their coordinates.';
      return;
    }
    try {
      const order = await api('/api/orders', { method: 'POST', body, headers: { 'Idempotency-Key': idempotencyKey } });
      idempotencyKey = crypto.randomUUID();
      message.textContent = `Order #${order.number} created.`;
      create.reset();
      state.picks = { pickup: null, dropoff: null };
      render();
    } catch (error) {
      // A refused request was not kept: the next attempt is a new one. A lost one is retried with the same key.
      if (error.status) idempotencyKey = crypto.randomUUID();
      message.textContent = describe(error);
    }
  });
}

main().catch((error) => {
  if (error?.status !== 401) {
    showConnection('error');
    $('connection').textContent = `Could not start: ${describe(error)}`;
  }
});
