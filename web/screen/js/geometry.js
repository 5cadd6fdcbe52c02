// Pure geometry of the route map: projection of the stations' WGS84 positions onto the
// drawing, where a distance along the route lies, and where labels go without overlapping.

/**
 * An equirectangular projection fitted to the stations' bounding box: longitudes are
 * shrunk by the cosine of the middle latitude so the route keeps its shape.
 * @param {{lat:number, lon:number}[]} points
 * @param {number} width drawing width (user units)
 * @param {number} pad margin kept free on every side (for labels)
 * @returns {{width:number, height:number, project:(p:{lat:number, lon:number}) => {x:number, y:number}}}
 */
export function fitProjection(points, width, pad) {
  const lats = points.map((p) => p.lat);
  const lons = points.map((p) => p.lon);
  const [latMin, latMax] = [Math.min(...lats), Math.max(...lats)];
  const [lonMin, lonMax] = [Math.min(...lons), Math.max(...lons)];
  const k = Math.cos((((latMin + latMax) / 2) * Math.PI) / 180);
  const spanX = Math.max((lonMax - lonMin) * k, 1e-6);
  const spanY = Math.max(latMax - latMin, 1e-6);
  const scale = (width - 2 * pad) / spanX;
  const height = Math.max(spanY * scale + 2 * pad, width * 0.5);
  const top = (height - spanY * scale) / 2;
  return {
    width,
    height,
    project: (p) => ({ x: pad + (p.lon - lonMin) * k * scale, y: top + (latMax - p.lat) * scale }),
  };
}

/**
 * The point at `metres` along the polyline through the stations, interpolating between
 * the two stations around it by their metres; clamped to the route's ends.
 * @param {{metres:number, x:number, y:number}[]} stops in route order
 * @param {number} metres
 */
export function pointAt(stops, metres) {
  if (stops.length === 0) return { x: 0, y: 0 };
  if (metres <= stops[0].metres) return { x: stops[0].x, y: stops[0].y };
  for (let i = 1; i < stops.length; i += 1) {
    const [a, b] = [stops[i - 1], stops[i]];
    if (metres < b.metres) {
      const t = (metres - a.metres) / (b.metres - a.metres);
      return { x: a.x + (b.x - a.x) * t, y: a.y + (b.y - a.y) * t };
    }
  }
  const last = stops[stops.length - 1];
  return { x: last.x, y: last.y };
}

/**
 * The polyline from the start up to `metres` (for the walked part of the route).
 * @param {{metres:number, x:number, y:number}[]} stops
 * @param {number} metres
 * @returns {{x:number, y:number}[]}
 */
export function pathUpTo(stops, metres) {
  const out = stops.filter((s) => s.metres <= metres).map((s) => ({ x: s.x, y: s.y }));
  if (out.length > 0 && out.length < stops.length) out.push(pointAt(stops, metres));
  return out;
}

function overlaps(a, b) {
  return a.x < b.x + b.w && b.x < a.x + a.w && a.y < b.y + b.h && b.y < a.y + a.h;
}

/**
 * Places labels next to their points without overlapping each other, the points or the
 * drawing's edges: each label tries right, left, above, below and the diagonals, in
 * `items` order (put the important ones first); a label with no free place is left out.
 * @param {{x:number, y:number, w:number, h:number}[]} items point and label size
 * @param {{width:number, height:number}} area
 * @param {number} gap distance between a point and its label
 * @returns {({x:number, y:number, anchor:'start'|'middle'|'end'}|null)[]} text position (baseline middle) or null
 */
export function placeLabels(items, area, gap) {
  const taken = items.map((p) => ({ x: p.x - gap / 2, y: p.y - gap / 2, w: gap, h: gap }));
  return items.map((p) => {
    const candidates = [
      { anchor: 'start', bx: p.x + gap, by: p.y - p.h / 2 },
      { anchor: 'end', bx: p.x - gap - p.w, by: p.y - p.h / 2 },
      { anchor: 'middle', bx: p.x - p.w / 2, by: p.y - gap - p.h },
      { anchor: 'middle', bx: p.x - p.w / 2, by: p.y + gap },
      { anchor: 'start', bx: p.x + gap * 0.7, by: p.y - gap * 0.7 - p.h },
      { anchor: 'start', bx: p.x + gap * 0.7, by: p.y + gap * 0.7 },
      { anchor: 'end', bx: p.x - gap * 0.7 - p.w, by: p.y - gap * 0.7 - p.h },
      { anchor: 'end', bx: p.x - gap * 0.7 - p.w, by: p.y + gap * 0.7 },
    ];
    for (const c of candidates) {
      const box = { x: c.bx, y: c.by, w: p.w, h: p.h };
      const inside = box.x >= 0 && box.y >= 0 && box.x + box.w <= area.width && box.y + box.h <= area.height;
      if (inside && !taken.some((t) => overlaps(t, box))) {
        taken.push(box);
        const x = c.anchor === 'start' ? box.x : c.anchor === 'end' ? box.x + box.w : box.x + box.w / 2;
        return { x, y: box.y + box.h / 2, anchor: c.anchor };
      }
    }
    return null;
  });
}

/** Rough width of a label in em: CJK characters are one em, others about half. */
export function textEm(text) {
  let em = 0;
  for (const ch of text) em += ch.codePointAt(0) > 0x2e80 ? 1 : 0.56;
  return em;
}
