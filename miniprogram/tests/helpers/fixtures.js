/** Server answers in the shapes longmarch sends (see the OpenAPI), for the page tests. */
const SLUG = 'long-march-demo'
const P = `/api/v1/campaigns/${SLUG}`

const station = (seq, name, metres) => ({ seq, name, metres })

const login = {
  token: 'token-1',
  expires_at: '2099-01-01T00:00:00Z',
  participant: { id: 7, display_name: '李明', student_no: '2023001', created_at: '2026-11-20T08:00:00Z' },
  new: false,
}

const me = {
  id: 7,
  display_name: '李明',
  student_no: '2023001',
  created_at: '2026-11-20T08:00:00Z',
  enrollments: [
    {
      campaign: SLUG,
      campaign_title: '长征永远在路上',
      cohort: { id: 3, name: '软件2301', path: '计算机学院/软件2301' },
      status: 'active',
      suspend_reason: null,
      joined_at: '2026-11-20T08:01:00Z',
    },
  ],
}

const meWithoutCampaign = { ...me, enrollments: [] }

const campaign = {
  slug: SLUG,
  title: '长征永远在路上',
  description: '',
  status: 'active',
  timezone: 'Asia/Shanghai',
  starts_on: '2026-11-20',
  ends_on: '2027-01-31',
  progress_mode: 'cohort_mean',
  steps_per_km: 18,
  daily_step_cap: 50000,
  step_sources: ['werun', 'manual'],
  route: { slug: 'long-march', name: '长征', total_metres: 12500000, station_count: 36 },
  distance_note: '',
  stations: [station(1, '瑞金出发', 0), station(2, '于都渡河', 234000)],
  cohorts: [],
  reminder_template_ids: ['tmpl-daily'],
}

const position = {
  metres: 250000,
  km: 250,
  current_station: station(2, '于都渡河', 234000),
  next_station: station(3, '突破第一道封锁线', 368000),
  metres_to_next: 118000,
  percent: 2,
  stations_reached: 2,
  stations_total: 36,
  finished_on: null,
}

const progress = {
  campaign: SLUG,
  progress_mode: 'cohort_mean',
  subject: 'cohort',
  total_steps: 90000,
  counted_steps: 90000,
  days_active: 5,
  rank: 3,
  ranked: 40,
  ...position,
  own: { ...position, metres: 5000000, km: 5000 },
  cohort: { id: 3, name: '软件2301', path: '计算机学院/软件2301', member_count: 30, counted_steps: 135000, position, contribution_percent: 66.66 },
}

const milestone = (seq, name, title, metres, unlocked) => ({
  seq,
  name,
  title,
  metres,
  event_date: '1934-10-10',
  event_date_end: null,
  status: unlocked ? 'unlocked' : 'locked',
  unlocked_at: unlocked ? '2026-11-21T10:00:00Z' : null,
  reached_on: unlocked ? '2026-11-21' : null,
  ...(unlocked ? { story: `# ${title}\n\n中央红军从瑞金出发，开始战略转移。\n\n这一天，${name}。` } : {}),
})

const milestones = {
  subject: 'cohort',
  items: [
    milestone(1, '瑞金出发', '踏上征途', 0, true),
    milestone(2, '于都渡河', '夜渡于都河', 234000, true),
    milestone(3, '突破第一道封锁线', '突破封锁', 368000, false),
  ],
  total: 3,
}

function upload(newly = []) {
  return {
    accepted: [{ date: '2026-12-03', steps: 12000, stored_steps: 12000, counted: 12000, flagged: false }],
    rejected: [],
    progress,
    newly_unlocked: newly,
  }
}

const entry = (rank, name, cohort, steps, isMe = false) => ({
  rank,
  display_name: name,
  cohort,
  counted_steps: steps,
  metres: Math.floor((steps * 1000) / 18),
  km: Math.floor((steps * 1000) / 18) / 1000,
  stations_reached: 2,
  is_me: isMe,
})

const board = {
  period: 'total',
  date: null,
  cohort: null,
  items: [entry(1, '王芳', '网络2302', 200000), entry(2, '张伟', '软件2301', 150000), entry(3, '李明', '软件2301', 90000, true)],
  total: 3,
  limit: 50,
  offset: 0,
}

const myRank = { rank: 3, total: 3, me: entry(3, '李明', '软件2301', 90000, true), above: [entry(2, '张伟', '软件2301', 150000)], below: [] }

const cohortEntry = (rank, id, name, path, hasChildren, steps) => ({
  rank,
  id,
  name,
  path,
  has_children: hasChildren,
  member_count: 60,
  active_members: 50,
  counted_steps: steps,
  mean_steps: Math.floor(steps / 60),
  participation_percent: 83.33,
  active_today_percent: 40,
  position,
})

const cohortsTop = { metric: 'total', parent: null, items: [cohortEntry(1, 1, '计算机学院', '计算机学院', true, 900000), cohortEntry(2, 2, '商学院', '商学院', true, 500000)], total: 2 }
const cohortsOfCs = { metric: 'total', parent: 1, items: [cohortEntry(1, 3, '软件2301', '计算机学院/软件2301', false, 600000), cohortEntry(2, 4, '网络2302', '计算机学院/网络2302', false, 300000)], total: 2 }

const certificate = {
  id: 'c0ffee12',
  verify_url: 'https://longmarch.example.edu.cn/api/v1/certificates/c0ffee12',
  display_name_masked: '李*',
  campaign_title: '长征永远在路上',
  route_name: '长征',
  finished_on: '2026-12-15',
  km: 12500,
  school: '示范大学',
}

/** The routes every page needs once the student has joined. */
function joinedRoutes(extra = {}) {
  return {
    'POST /api/v1/auth/wechat': { body: login },
    'GET /api/v1/me': { body: me },
    [`GET ${P}`]: { body: campaign },
    [`GET ${P}/me/progress`]: { body: progress },
    [`GET ${P}/me/steps`]: { body: { items: [], total: 0 } },
    [`POST ${P}/steps/werun`]: { body: upload() },
    ...extra,
  }
}

const problem = (status, code, detail) => ({
  status,
  header: { 'Content-Type': 'application/problem+json' },
  body: { type: 'about:blank', title: 'Error', status, code, detail },
})

module.exports = {
  SLUG, P, login, me, meWithoutCampaign, campaign, progress, milestones, upload, board, myRank,
  cohortsTop, cohortsOfCs, certificate, joinedRoutes, problem,
}
