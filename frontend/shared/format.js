// Words and numbers as people read them: enum labels, dates, scores, growth language.

export const CATEGORIES = {
  culture: 'Culture',
  productivity: 'Productivity',
  communication: 'Communication',
  safety: 'Safety',
  care_quality: 'Care quality',
  financial: 'Financial',
  leadership: 'Leadership',
  compliance: 'Compliance',
  operational: 'Operational',
};

export const ROLE_GROUPS = {
  support_worker: 'Support worker',
  senior_support_worker: 'Senior support worker',
  team_leader: 'Team leader',
  registered_nurse: 'Registered nurse',
  enrolled_nurse: 'Enrolled nurse',
  allied_health: 'Allied health',
  support_coordinator: 'Support coordinator',
  rostering: 'Rostering',
  administration: 'Administration',
  finance: 'Finance',
  human_resources: 'Human resources',
  quality_compliance: 'Quality & compliance',
  management: 'Management',
  executive: 'Executive',
  volunteer: 'Volunteer',
};

export const FREQUENCIES = {
  weekly: 'Weekly',
  fortnightly: 'Fortnightly',
  monthly: 'Monthly',
  quarterly: 'Quarterly',
  annually: 'Annually',
};

export const ENTRY_TYPES = {
  observation: 'Observation',
  coaching_session: 'Coaching session',
  catch_up_note: 'Catch-up note',
  incident_link: 'Incident link',
  score_update: 'Score update',
  score_adjustment: 'Score adjustment',
  effort_recognition: 'Effort recognition',
  self_reflection: 'Self reflection',
  peer_feedback: 'Peer feedback',
  goal_setting: 'Goal setting',
  milestone: 'Milestone',
  training_completed: 'Training completed',
  status_change: 'Status change',
  approval_requested: 'Approval requested',
  approval_granted: 'Approval granted',
  approval_declined: 'Approval declined',
};

/** Entry types a person writes by hand (the rest are recorded by the system). */
export const WRITABLE_ENTRY_TYPES = [
  'observation', 'coaching_session', 'catch_up_note', 'score_update', 'score_adjustment',
  'effort_recognition', 'peer_feedback', 'goal_setting', 'milestone', 'training_completed',
  'incident_link', 'self_reflection',
];

export const GROWTH = {
  exceeding: { label: 'Exceeding', icon: '★', text: 'Going beyond the target' },
  meeting: { label: 'Meeting', icon: '✓', text: 'Right where it should be' },
  growing: { label: 'Growing', icon: '🌱', text: 'Building towards the target' },
  null: { label: 'Not yet reviewed', icon: '○', text: 'No evaluation yet' },
};

export function label(map, value) {
  if (value === null || value === undefined || value === '') return '—';
  return map[value] || String(value).replace(/_/g, ' ').replace(/^./, (c) => c.toUpperCase());
}

export const categoryLabel = (v) => label(CATEGORIES, v);
export const roleGroupLabel = (v) => (v ? label(ROLE_GROUPS, v) : 'Everyone');
export const frequencyLabel = (v) => label(FREQUENCIES, v);
export const entryTypeLabel = (v) => label(ENTRY_TYPES, v);

/** {label, icon, text, cls} for a growth_status (null = not yet reviewed). */
export function growth(status) {
  const key = status && GROWTH[status] ? status : 'null';
  return { ...GROWTH[key], cls: 'growth-' + (key === 'null' ? 'unscored' : key) };
}

/** Trend words: up / down / steady in coaching language. */
export function trendLabel(trend) {
  if (trend === 'up') return { icon: '↗', text: 'Trending up' };
  if (trend === 'down') return { icon: '↘', text: 'Dipped since last review' };
  if (trend === 'steady') return { icon: '→', text: 'Holding steady' };
  return null;
}

/** A number as a score on its scale ("82" or "4.5 / 5"). */
export function formatScore(value, scoreType) {
  if (value === null || value === undefined || value === '') return '—';
  const n = Number(value);
  if (!Number.isFinite(n)) return String(value);
  const text = Number.isInteger(n) ? String(n) : n.toFixed(1).replace(/\.0$/, '');
  if (scoreType === 'rating') return `${text} / 5`;
  if (scoreType === 'percentage') return `${text}%`;
  return text;
}

/** An effort weight 0.2 as "20%". */
export function formatPercentOf1(value) {
  if (value === null || value === undefined) return '—';
  return `${Math.round(Number(value) * 100)}%`;
}

export function scaleOf(scoreType) {
  return scoreType === 'rating' ? { min: 1, max: 5, step: 0.1 } : { min: 0, max: 100, step: 0.5 };
}

const dateFmt = new Intl.DateTimeFormat(undefined, { day: 'numeric', month: 'short', year: 'numeric' });
const dateTimeFmt = new Intl.DateTimeFormat(undefined, { day: 'numeric', month: 'short', year: 'numeric', hour: '2-digit', minute: '2-digit' });
const shortFmt = new Intl.DateTimeFormat(undefined, { day: 'numeric', month: 'short' });

export function formatDate(iso) {
  if (!iso) return '—';
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? String(iso) : dateFmt.format(d);
}
export function formatDateTime(iso) {
  if (!iso) return '—';
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? String(iso) : dateTimeFmt.format(d);
}
const shortTimeFmt = new Intl.DateTimeFormat(undefined, { day: 'numeric', month: 'short', hour: '2-digit', minute: '2-digit' });
export function formatShortDateTime(iso) {
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? '' : shortTimeFmt.format(d);
}
export function formatShortDate(iso) {
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? '' : shortFmt.format(d);
}

/** "Due in 5 days", "Due today", "Was due 3 days ago". */
export function dueLabel(iso) {
  if (!iso) return 'No evaluation scheduled';
  const days = Math.round((new Date(iso).getTime() - Date.now()) / 86400000);
  if (days === 0) return 'Evaluation due today';
  if (days === 1) return 'Evaluation due tomorrow';
  if (days > 1) return `Evaluation due in ${days} days (${formatDate(iso)})`;
  if (days === -1) return 'Evaluation was due yesterday';
  return `Evaluation was due ${-days} days ago`;
}

/** How long an entry has waited for a decision: "Waiting 3 days", "Waiting 2 hours". */
export function waitedLabel(iso) {
  const minutes = Math.max(0, Math.floor((Date.now() - new Date(iso).getTime()) / 60000));
  const count = (n, unit) => `Waiting ${n} ${unit}${n === 1 ? '' : 's'}`;
  if (minutes < 2) return 'Waiting a moment';
  if (minutes < 60) return count(minutes, 'minute');
  if (minutes < 24 * 60) return count(Math.floor(minutes / 60), 'hour');
  return count(Math.floor(minutes / (24 * 60)), 'day');
}

/** Two initials from a name, for an avatar. */
export function initials(name) {
  const parts = String(name || '?').trim().split(/\s+/);
  return ((parts[0] || '?')[0] + (parts.length > 1 ? parts[parts.length - 1][0] : '')).toUpperCase();
}

export function shortId(id) {
  return id ? String(id).slice(0, 8) : '';
}
