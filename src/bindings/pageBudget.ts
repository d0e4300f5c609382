import type { SchedulerLike } from 'rxjs'
import { SetDataBudget } from './setDataBudget'

/** A page or component, as far as finding its page goes. */
export interface OwnedInstance {
  /** WeChat (2.8.2+): the component whose template holds this one; null for a page. */
  selectOwnerComponent?: () => OwnedInstance | null
}

/** The page's shared setData budgets, by page instance. */
const budgets = new WeakMap<object, SetDataBudget>()

/** The page a component is in (its outermost owner); the instance itself for a page. */
function pageOf(self: OwnedInstance): object {
  let node: OwnedInstance = self
  for (let depth = 0; depth < 64; depth++) {
    let owner: OwnedInstance | null | undefined
    try {
      owner = node.selectOwnerComponent?.()
    } catch {
      owner = undefined
    }
    if (owner === null || owner === undefined || owner === node) break
    node = owner
  }
  return node
}

/**
 * The budget of the page `self` is on, shared with every bound component of that page: made by
 * the first of them to bind (with its `maxPerSecond`), made again once every member has left.
 */
export function pageBudget(self: OwnedInstance, maxPerSecond: number, scheduler: SchedulerLike): SetDataBudget {
  const page = pageOf(self)
  let budget = budgets.get(page)
  if (budget === undefined || budget.size === 0) {
    budget = new SetDataBudget(maxPerSecond, 1000, scheduler)
    budgets.set(page, budget)
  }
  return budget
}
