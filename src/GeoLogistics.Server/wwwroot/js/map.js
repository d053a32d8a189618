// The city map, drawn locally in SVG from the server's road graph (GET /api/map): no tiles, no network beyond the
// server. Drivers are markers coloured by status; active orders show pickup, dropoff and the leg being driven.

const SVG = 'http://www.w3.org/2000/svg';
const SCALE = 100_000; // SVG units per degree of latitude (≈ 1.1 m each)

function el(name, attrs = {}, parent) {
  const node = document.createElementNS(SVG, name);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
  parent?.appendChild(node);
  return node;
}

export class CityMap {
  constructor(svg, { onPick } = {}) {
    this.svg = svg;
    this.onPick = onPick;
    this.layers = {};
    svg.addEventListener('click', (e) => this.click(e));
  }

  /** Draws the city once; its bounds (widened to take in whatever else is known) fix the projection. */
  setCity(city, extraPoints = []) {
    const lats = [city.bounds.minLat, city.bounds.maxLat, ...extraPoints.map((p) => p.lat)];
    const lngs = [city.bounds.minLng, city.bounds.maxLng, ...extraPoints.map((p) => p.lng)];
    const pad = 0.002;
    this.minLat = Math.min(...lats) - pad;
    this.maxLat = Math.max(...lats) + pad;
    this.minLng = Math.min(...lngs) - pad;
    this.maxLng = Math.max(...lngs) + pad;
    this.k = Math.cos(((this.minLat + this.maxLat) / 2) * Math.PI / 180);
    const [w, h] = this.project(this.minLat, this.maxLng);
    this.svg.setAttribute('viewBox', `0 0 ${w.toFixed(0)} ${h.toFixed(0)}`);
    this.svg.setAttribute('preserveAspectRatio', 'xMidYMid meet');
    this.svg.replaceChildren();
    this.unit = Math.max(w, h) / 400; // one "pixel" of a 400-wide map, for strokes and markers
    el('rect', { class: 'ground', x: 0, y: 0, width: w, height: h }, this.svg);
    for (const name of ['areas', 'streets', 'labels', 'routes', 'places', 'drivers']) {
      this.layers[name] = el('g', { class: `layer-${name}` }, this.svg);
    }
    for (const area of city.areas ?? []) {
      el('polygon', { class: `area area-${area.kind}`, points: this.points(area.points) }, this.layers.areas)
        .appendChild(Object.assign(document.createElementNS(SVG, 'title'), { textContent: area.name }));
    }
    const u = this.unit;
    city.streets.forEach((street, i) => {
      const width = street.kind === 'main' ? 3.2 * u : street.kind === 'bridge' ? 2.6 * u : 1.6 * u;
      el('polyline', { class: `street street-casing street-${street.kind}`, points: this.points(street.points), 'stroke-width': width + 1.2 * u }, this.layers.streets);
      el('polyline', { class: `street street-${street.kind}`, points: this.points(street.points), 'stroke-width': width }, this.layers.streets);
      if (street.kind === 'main' && street.name) {
        // Labels read left to right.
        const pts = street.points[0][1] <= street.points.at(-1)[1] ? street.points : [...street.points].reverse();
        const id = `street-path-${i}`;
        el('path', { id, d: `M ${this.points(pts).replaceAll(' ', ' L ')}`, fill: 'none', stroke: 'none' }, this.layers.labels);
        const text = el('text', { class: 'street-label', 'font-size': 7 * u, dy: 2.4 * u }, this.layers.labels);
        el('textPath', { href: `#${id}`, startOffset: '50%', 'text-anchor': 'middle' }, text).textContent = street.name;
      }
    });
  }

  project(lat, lng) {
    return [(lng - this.minLng) * this.k * SCALE, (this.maxLat - lat) * SCALE];
  }

  unproject(x, y) {
    return { lat: this.maxLat - y / SCALE, lng: this.minLng + x / (this.k * SCALE) };
  }

  points(list) {
    return list.map(([lat, lng]) => this.project(lat, lng).map((v) => v.toFixed(1)).join(',')).join(' ');
  }

  click(event) {
    if (!this.onPick || !this.k) return;
    const point = new DOMPoint(event.clientX, event.clientY).matrixTransform(this.svg.getScreenCTM().inverse());
    const { lat, lng } = this.unproject(point.x, point.y);
    this.onPick({ lat: Math.round(lat * 1e6) / 1e6, lng: Math.round(lng * 1e6) / 1e6 });
  }

  /** drivers: Map id → { name, status, location: {lat,lng,heading} } */
  renderDrivers(drivers) {
    if (!this.k) return;
    const layer = this.layers.drivers;
    const seen = new Set();
    for (const [id, d] of drivers) {
      if (!d.location) continue;
      seen.add(id);
      let g = layer.querySelector(`[data-driver-id="${id}"]`);
      if (!g) {
        g = el('g', { class: 'driver', 'data-driver-id': id }, layer);
        el('circle', { r: 5 * this.unit }, g);
        el('path', { class: 'heading', d: `M 0 ${-9 * this.unit} L ${3 * this.unit} ${-4.5 * this.unit} L ${-3 * this.unit} ${-4.5 * this.unit} Z` }, g);
        el('title', {}, g);
      }
      const [x, y] = this.project(d.location.lat, d.location.lng);
      g.setAttribute('transform', `translate(${x.toFixed(1)} ${y.toFixed(1)})`);
      g.dataset.status = d.status;
      g.querySelector('.heading').setAttribute('transform', `rotate(${d.location.heading ?? 0})`);
      // A heading only while moving: a parked driver has no direction worth drawing.
      g.querySelector('.heading').style.display = d.location.heading == null || !d.location.speed ? 'none' : '';
      g.querySelector('title').textContent = `${d.name} · ${d.status}`;
    }
    for (const g of [...layer.children]) {
      if (!seen.has(g.dataset.driverId)) g.remove();
    }
  }

  /** Active orders: pickup ■, dropoff ●, the planned trip, and the leg the driver is on. */
  renderOrders(orders, drivers, selectedId, travelled) {
    if (!this.k) return;
    const routes = this.layers.routes;
    const places = this.layers.places;
    routes.replaceChildren();
    places.replaceChildren();
    const u = this.unit;
    for (const o of orders) {
      const selected = o.id === selectedId;
      const [px, py] = this.project(o.pickup.lat, o.pickup.lng);
      const [dx, dy] = this.project(o.dropoff.lat, o.dropoff.lng);
      el('line', { class: `trip${selected ? ' selected' : ''}`, x1: px, y1: py, x2: dx, y2: dy, 'stroke-width': (selected ? 1.6 : 0.9) * u }, routes);
      const driver = o.driverId ? drivers.get(o.driverId) : null;
      if (driver?.location) {
        const [tx, ty] = o.status === 'ASSIGNED' ? [px, py] : [dx, dy];
        const [x, y] = this.project(driver.location.lat, driver.location.lng);
        el('line', { class: 'leg', x1: x, y1: y, x2: tx, y2: ty, 'stroke-width': 1.4 * u }, routes);
      }
      const pickup = el('rect', { class: `place pickup${selected ? ' selected' : ''}`, x: px - 3.5 * u, y: py - 3.5 * u, width: 7 * u, height: 7 * u, 'data-order-id': o.id }, places);
      el('title', {}, pickup).textContent = `#${o.number} pickup: ${o.pickup.address ?? ''}`;
      const d = 4.6 * u;
      const dropoff = el('polygon', { class: `place dropoff${selected ? ' selected' : ''}`, points: `${dx},${dy - d} ${dx + d},${dy} ${dx},${dy + d} ${dx - d},${dy}`, 'data-order-id': o.id }, places);
      el('title', {}, dropoff).textContent = `#${o.number} dropoff: ${o.dropoff.address ?? ''}`;
    }
    if (travelled?.length > 1) {
      el('polyline', { class: 'travelled', points: this.points(travelled.map((p) => [p.lat, p.lng])), 'stroke-width': 2.2 * u }, routes);
    }
  }

  /** A pending pick on the map (the create form's pickup or dropoff). */
  renderPicks(picks) {
    if (!this.k) return;
    this.layers.places.querySelectorAll('.pick').forEach((n) => n.remove());
    for (const [kind, p] of Object.entries(picks)) {
      if (p?.lat == null || p?.lng == null || Number.isNaN(p.lat) || Number.isNaN(p.lng)) continue;
      const [x, y] = this.project(p.lat, p.lng);
      const g = el('g', { class: `pick pick-${kind}`, transform: `translate(${x} ${y})` }, this.layers.places);
      el('circle', { r: 6 * this.unit }, g);
      el('text', { 'font-size': 7 * this.unit, dy: 2.4 * this.unit, 'text-anchor': 'middle' }, g).textContent = kind === 'pickup' ? 'P' : 'D';
    }
  }
}
