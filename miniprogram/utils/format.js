/** Small formatting helpers shared by the pages. */

/** Metres as kilometres with one decimal: 12345 → "12.3". */
function km(metres) {
  return (Math.floor((metres || 0) / 100) / 10).toFixed(1)
}

/** Thousands separators: 12345 → "12,345". */
function count(n) {
  return String(n || 0).replace(/\B(?=(\d{3})+(?!\d))/g, ',')
}

/** "2026-12-03" → "2026年12月3日". */
function day(iso) {
  if (!iso) return ''
  const [y, m, d] = iso.split('-').map(Number)
  return `${y}年${m}月${d}日`
}

function pad(n) {
  return String(n).padStart(2, '0')
}

/** A moment on the device clock: "12月3日 08:05". */
function moment(date) {
  if (!date) return ''
  return `${date.getMonth() + 1}月${date.getDate()}日 ${pad(date.getHours())}:${pad(date.getMinutes())}`
}

/** Today's date (YYYY-MM-DD) in the IANA zone `tz`, falling back to the device's own. */
function today(tz) {
  const now = new Date()
  try {
    return new Intl.DateTimeFormat('en-CA', { timeZone: tz, year: 'numeric', month: '2-digit', day: '2-digit' }).format(now)
  } catch (e) {
    return `${now.getFullYear()}-${pad(now.getMonth() + 1)}-${pad(now.getDate())}`
  }
}

/** A historical date range: "1935年1月15日—17日". */
function eventDates(start, end) {
  if (!start) return ''
  if (!end || end === start) return day(start)
  const [y1, m1] = start.split('-')
  const [y2, m2, d2] = end.split('-').map(Number)
  if (y1 === String(y2) && Number(m1) === m2) return `${day(start)}—${d2}日`
  return `${day(start)}—${day(end)}`
}

module.exports = { km, count, day, moment, today, eventDates }
