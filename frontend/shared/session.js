// The signed-in person: a bearer token kept in sessionStorage, and what its claims allow.

const TOKEN_KEY = 'kpi.token';

/** Keep a token for this browser tab. */
export function saveToken(token) {
  sessionStorage.setItem(TOKEN_KEY, token.trim());
}

/** Forget the token. */
export function signOut() {
  sessionStorage.removeItem(TOKEN_KEY);
}

/** The raw token, or null. */
export function token() {
  return sessionStorage.getItem(TOKEN_KEY);
}

/** Decode a JWT's claims without verifying it (the services verify; the page only adapts). */
export function decodeClaims(jwt) {
  const parts = (jwt || '').split('.');
  if (parts.length !== 3) return null;
  try {
    const base64 = parts[1].replace(/-/g, '+').replace(/_/g, '/');
    const padded = base64 + '='.repeat((4 - (base64.length % 4)) % 4);
    const json = decodeURIComponent(Array.from(atob(padded), (c) => '%' + c.charCodeAt(0).toString(16).padStart(2, '0')).join(''));
    return JSON.parse(json);
  } catch {
    return null;
  }
}

/** The current session ({token, roles, staffId, ...}) or null when signed out or expired. */
export function currentSession() {
  const raw = token();
  const claims = decodeClaims(raw);
  if (!claims) return null;
  if (claims.exp && claims.exp * 1000 < Date.now()) {
    signOut();
    return null;
  }
  const roles = Array.isArray(claims.roles) ? claims.roles : [];
  const isAdmin = roles.includes('hr_admin');
  const isManager = isAdmin || roles.includes('manager');
  return {
    token: raw,
    subject: claims.sub,
    roles,
    staffId: claims.staff_id || null,
    expiresAt: claims.exp ? new Date(claims.exp * 1000) : null,
    isAdmin,
    isManager,
    isStaffOnly: !isManager && roles.includes('staff'),
    roleLabel: isAdmin ? 'HR admin' : isManager ? 'Manager' : 'Staff',
  };
}

/**
 * A promise that never settles. Awaited at a page module's top level, it stops the page's script
 * there without an error: the page is on its way elsewhere, or has said why it cannot go on.
 */
export function stopThePage() {
  return new Promise(() => {});
}

/** The session; signed out, a trip to the sign-in page that comes back here, and a stop. */
export async function requireSession() {
  const session = currentSession();
  if (session) return session;
  const next = location.pathname.split('/').pop() + location.search;
  location.replace('index.html?next=' + encodeURIComponent(next));
  return stopThePage();
}

/** Where a person lands after signing in. */
export function homeFor(session) {
  if (session.isStaffOnly) return 'page_staff_detail.html?staff_id=' + encodeURIComponent(session.staffId || '');
  if (session.isAdmin) return 'page_hr_kpis.html';
  return 'page_staff_detail.html';
}
