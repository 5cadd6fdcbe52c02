// The route drawn in SVG from the stations' coordinates: the line, the walked part, the
// stations with their names, and a marker per cohort (or, without cohorts, per leading
// participant) at its distance along the route.

import { fitProjection, pathUpTo, placeLabels, pointAt, textEm } from './geometry.js';

const SVG = 'http://www.w3.org/2000/svg';
const WIDTH = 1000;
const PAD = 70;
const STATION_FONT = 19;
/** Markers with a name beside them; the others are dots. */
const NAMED_MARKERS = 6;
/** Vertical distance between the names of markers at the same place. */
const LABEL_STACK = 24;
const MARKER_FONT = 22;

function el(name, attrs = {}, parent = null) {
  const node = document.createElementNS(SVG, name);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, String(v));
  if (parent) parent.appendChild(node);
  return node;
}

function points(list) {
  return list.map((p) => `${p.x.toFixed(1)},${p.y.toFixed(1)}`).join(' ');
}

/** Draws a route once and moves its markers as progress changes. */
export class RouteMap {
  /**
   * @param {SVGSVGElement} svg
   * @param {{seq:number, name:string, metres:number, lat:number|null, lon:number|null}[]} stations
   */
  constructor(svg, stations) {
    this.svg = svg;
    const placed = stations.filter((s) => Number.isFinite(s.lat) && Number.isFinite(s.lon));
    this.usable = placed.length >= 2;
    svg.replaceChildren();
    if (!this.usable) {
      svg.setAttribute('viewBox', '0 0 1000 500');
      const t = el('text', { x: 500, y: 250, 'text-anchor': 'middle', class: 'map-empty' }, svg);
      t.textContent = '路线的站点还没有经纬度，无法绘制地图';
      return;
    }
    const proj = fitProjection(placed, WIDTH, PAD);
    this.height = proj.height;
    svg.setAttribute('viewBox', `0 0 ${WIDTH} ${proj.height.toFixed(0)}`);
    this.stops = placed.map((s) => ({ ...s, ...proj.project(s) }));
    this.total = this.stops[this.stops.length - 1].metres;

    el('polyline', { points: points(this.stops), class: 'route' }, svg);
    this.walked = el('polyline', { points: '', class: 'route-walked' }, svg);
    const stationLayer = el('g', { class: 'stations' }, svg);
    this.dots = new Map();
    for (const s of this.stops) {
      const dot = el('circle', { cx: s.x.toFixed(1), cy: s.y.toFixed(1), r: 5, class: 'station' }, stationLayer);
      this.dots.set(s.seq, dot);
    }
    this.drawLabels(stationLayer);
    this.markerLayer = el('g', { class: 'markers' }, svg);
    this.markers = new Map();
  }

  /** Station names where they fit: the start and the end first. */
  drawLabels(layer) {
    const order = [...this.stops.keys()].sort((a, b) => priority(this.stops, a) - priority(this.stops, b));
    const items = order.map((i) => ({
      x: this.stops[i].x,
      y: this.stops[i].y,
      w: textEm(this.stops[i].name) * STATION_FONT,
      h: STATION_FONT * 1.2,
    }));
    const spots = placeLabels(items, { width: WIDTH, height: this.height }, 9);
    spots.forEach((spot, k) => {
      if (!spot) return;
      const s = this.stops[order[k]];
      const t = el('text', {
        x: spot.x.toFixed(1),
        y: spot.y.toFixed(1),
        'text-anchor': spot.anchor,
        'dominant-baseline': 'central',
        class: 'station-label',
        'data-seq': s.seq,
      }, layer);
      t.textContent = s.name;
    });
  }

  /**
   * Moves the markers: `subjects` in board order, each `{key, name, metres}`.
   * @param {{key:string, name:string, metres:number}[]} subjects
   */
  update(subjects) {
    if (!this.usable) return;
    const furthest = subjects.reduce((m, s) => Math.max(m, s.metres), 0);
    this.walked.setAttribute('points', points(pathUpTo(this.stops, Math.min(furthest, this.total))));
    for (const s of this.stops) this.dots.get(s.seq).classList.toggle('reached', s.metres <= furthest && furthest > 0);

    const seen = new Set();
    const named = [];
    subjects.forEach((subject, i) => {
      seen.add(subject.key);
      let m = this.markers.get(subject.key);
      if (!m) {
        const g = el('g', { class: 'marker', 'data-key': subject.key }, this.markerLayer);
        el('circle', { r: 9, class: 'marker-dot' }, g);
        const label = el('text', { x: 14, y: 0, 'dominant-baseline': 'central', class: 'marker-label' }, g);
        m = { g, label };
        this.markers.set(subject.key, m);
      }
      const p = pointAt(this.stops, Math.min(subject.metres, this.total));
      // Transformed through CSS so the move animates (set through the CSSOM, which the
      // page's Content-Security-Policy allows, unlike inline style attributes).
      m.g.style.transform = `translate(${p.x.toFixed(1)}px, ${p.y.toFixed(1)}px)`;
      m.g.dataset.metres = String(subject.metres);
      m.g.classList.toggle('leader', i === 0);
      m.label.textContent = i < NAMED_MARKERS ? subject.name : '';
      // Names of markers close together are moved up or down, not written over each other.
      if (i < NAMED_MARKERS) {
        const w = textEm(subject.name) * MARKER_FONT;
        const box = (dy) => ({ x: p.x + 14, y: p.y + dy - LABEL_STACK / 2, w, h: LABEL_STACK });
        const free = (b) => !named.some((q) => b.x < q.x + q.w && q.x < b.x + b.w && b.y < q.y + q.h && q.y < b.y + b.h);
        const dy = [0, 1, -1, 2, -2, 3, -3].map((k) => k * LABEL_STACK).find((d) => free(box(d))) ?? 0;
        m.label.setAttribute('y', String(dy));
        named.push(box(dy));
      }
    });
    for (const [key, m] of this.markers) {
      if (!seen.has(key)) {
        m.g.remove();
        this.markers.delete(key);
      }
    }
    // Later markers are drawn first, so the leaders stay on top. Nodes are moved only when
    // the order changed: a moved node would jump instead of gliding to its new place.
    const wanted = subjects.map((s) => this.markers.get(s.key).g).reverse();
    const current = [...this.markerLayer.children];
    if (wanted.some((g, i) => current[i] !== g)) this.markerLayer.replaceChildren(...wanted);
  }
}

/** Label order: the start and the end, then the others in route order. */
function priority(stops, i) {
  return i === 0 || i === stops.length - 1 ? i - stops.length : i;
}
