// Norwegian text for measurements, units, dates and the access log.

const TIME_ZONE = 'Europe/Oslo';

const dateTime = new Intl.DateTimeFormat('nb-NO', {
  timeZone: TIME_ZONE,
  day: 'numeric',
  month: 'short',
  year: 'numeric',
  hour: '2-digit',
  minute: '2-digit',
});
const dateOnly = new Intl.DateTimeFormat('nb-NO', {
  timeZone: TIME_ZONE,
  day: 'numeric',
  month: 'short',
  year: 'numeric',
});
const dayMonth = new Intl.DateTimeFormat('nb-NO', { timeZone: TIME_ZONE, day: 'numeric', month: 'short' });

export function formatDateTime(value) {
  const date = value instanceof Date ? value : new Date(value);
  return Number.isNaN(date.getTime()) ? '' : dateTime.format(date);
}

export function formatDate(value) {
  const date = value instanceof Date ? value : new Date(value);
  return Number.isNaN(date.getTime()) ? '' : dateOnly.format(date);
}

export function formatDayMonth(value) {
  return dayMonth.format(value instanceof Date ? value : new Date(value));
}

export function formatNumber(value, decimals) {
  return new Intl.NumberFormat('nb-NO', {
    minimumFractionDigits: decimals,
    maximumFractionDigits: decimals,
  }).format(value);
}

/** `YYYY-MM-DD` of the day `days` before today (local time). */
export function daysAgo(days) {
  const date = new Date();
  date.setDate(date.getDate() - days);
  const pad = (n) => String(n).padStart(2, '0');
  return `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())}`;
}

// The canonical UCUM units as people write them.
const UNITS = {
  '/min': 'slag/min',
  '%': '%',
  Cel: '°C',
  'mm[Hg]': 'mmHg',
  kg: 'kg',
  cm: 'cm',
  'kg/m2': 'kg/m²',
  'mmol/L': 'mmol/L',
};

export function unitText(ucum) {
  return UNITS[ucum] || ucum || '';
}

// The measurements the portal knows, by any of the codes sources may use (LOINC first).
export const KINDS = [
  { id: 'bp', label: 'Blodtrykk', codes: ['85354-9', '75367002'], unit: 'mm[Hg]', decimals: 0, panel: true },
  { id: 'hr', label: 'Puls', codes: ['8867-4', '364075005'], unit: '/min', decimals: 0 },
  { id: 'spo2', label: 'Oksygenmetning', codes: ['2708-6', '59408-5', '431314004'], unit: '%', decimals: 0 },
  { id: 'rr', label: 'Respirasjonsfrekvens', codes: ['9279-1', '86290005'], unit: '/min', decimals: 0, unitText: 'pust/min' },
  { id: 'temp', label: 'Kroppstemperatur', codes: ['8310-5', '276885007'], unit: 'Cel', decimals: 1 },
  { id: 'weight', label: 'Vekt', codes: ['29463-7', '27113001'], unit: 'kg', decimals: 1 },
  { id: 'height', label: 'Høyde', codes: ['8302-2', '50373000'], unit: 'cm', decimals: 0 },
  { id: 'bmi', label: 'KMI', codes: ['39156-5', '60621009'], unit: 'kg/m2', decimals: 1 },
  { id: 'glucose', label: 'Blodsukker', codes: ['15074-8', '2339-0', '434912009', 'NPU02187'], unit: 'mmol/L', decimals: 1 },
];

const SYSTOLIC = ['8480-6', '271649006'];
const DIASTOLIC = ['8462-4', '271650006'];

function codes(concept) {
  return ((concept && concept.coding) || []).map((c) => c.code);
}

export function kindOf(observation) {
  const own = codes(observation.code);
  return KINDS.find((kind) => kind.codes.some((code) => own.includes(code))) || null;
}

export function kindUnit(kind) {
  return kind.unitText || unitText(kind.unit);
}

/**
 * The values of an Observation as {time, values: [{label, value}]}, in the canonical unit,
 * or null when it has none.
 */
export function readingOf(observation, kind) {
  const time = observation.effectiveDateTime || (observation.effectivePeriod && observation.effectivePeriod.start);
  if (!time) return null;
  if (kind.panel) {
    const component = (list) =>
      (observation.component || []).find((c) => codes(c.code).some((code) => list.includes(code)));
    const sys = component(SYSTOLIC);
    const dia = component(DIASTOLIC);
    if (!sys || !dia || !sys.valueQuantity || !dia.valueQuantity) return null;
    return {
      time: new Date(time),
      values: [
        { label: 'Systolisk', value: Number(sys.valueQuantity.value) },
        { label: 'Diastolisk', value: Number(dia.valueQuantity.value) },
      ],
    };
  }
  if (!observation.valueQuantity) return null;
  return { time: new Date(time), values: [{ label: kind.label, value: Number(observation.valueQuantity.value) }] };
}

export function readingText(reading, kind) {
  const numbers = reading.values.map((v) => formatNumber(v.value, kind.decimals));
  return `${numbers.join('/')} ${kindUnit(kind)}`;
}
