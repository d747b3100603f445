// Norwegian (bokmål) names and number formats for the statistics dashboard.

export const ORG_TYPES = ['municipality', 'hospital_trust', 'gp_office', 'other'];

const ORG_TYPE_LABELS = {
  municipality: 'Kommuner',
  hospital_trust: 'Helseforetak',
  gp_office: 'Fastlegekontor',
  other: 'Andre virksomheter',
};

const METRIC_LABELS = {
  measurements_received: 'Målinger mottatt',
  distinct_patients_with_data: 'Pasienter med data',
  searches: 'Søk',
  reads: 'Enkeltoppslag',
  denied_accesses: 'Avviste oppslag',
  undecided_accesses: 'Uavklarte oppslag',
  citizens_viewing: 'Innbyggere som så egne data',
  citizen_views: 'Innbyggervisninger',
  blocks_created: 'Sperringer opprettet',
  blocks_revoked: 'Sperringer opphevet',
  exports: 'Uttrekk',
};

export function orgTypeLabel(type) {
  return ORG_TYPE_LABELS[type] || type;
}

export function metricLabel(metric) {
  return METRIC_LABELS[metric] || metric;
}

const whole = new Intl.NumberFormat('nb-NO', { maximumFractionDigits: 0 });
const percent = new Intl.NumberFormat('nb-NO', { style: 'percent', maximumFractionDigits: 1 });

export function formatCount(n) {
  return whole.format(n);
}

export function formatShare(share) {
  return percent.format(share);
}

export const SUPPRESSED_TEXT = 'skjult';

const weekday = new Intl.DateTimeFormat('nb-NO', { day: 'numeric', month: 'short', timeZone: 'UTC' });
const month = new Intl.DateTimeFormat('nb-NO', { month: 'long', year: 'numeric', timeZone: 'UTC' });

// ISO week number of a UTC date.
function isoWeek(date) {
  const d = new Date(Date.UTC(date.getUTCFullYear(), date.getUTCMonth(), date.getUTCDate()));
  const day = d.getUTCDay() || 7;
  d.setUTCDate(d.getUTCDate() + 4 - day);
  const yearStart = new Date(Date.UTC(d.getUTCFullYear(), 0, 1));
  return Math.ceil(((d - yearStart) / 86400000 + 1) / 7);
}

// A bucket's first day (YYYY-MM-DD) as people read it.
export function periodLabel(period, granularity) {
  const date = new Date(`${period}T00:00:00Z`);
  if (granularity === 'week') {
    return `uke ${isoWeek(date)}`;
  }
  if (granularity === 'month') {
    return month.format(date);
  }
  return weekday.format(date);
}
