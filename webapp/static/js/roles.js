// What the logged-in user's role may do, so the pages hide what it may not (the API refuses it anyway).

const RANK = { viewer: 0, operator: 1, admin: 2 };

export const USER = document.body.dataset.user || "";
export const ROLE = document.body.dataset.role || "";

/** Whether the logged-in role is at least `need` (viewer, operator or admin). */
export function may(need) {
  return (RANK[ROLE] ?? -1) >= RANK[need];
}
