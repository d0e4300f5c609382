/**
 * Whether a page's comment list follows the newest comment: scrolling up stops following
 * (more comments then raise the "new comments" pill once), scrolling back to the bottom or
 * tapping the pill follows again. Each step answers the `setData` patch it needs, if any.
 */
export class CommentFollow {
  /** The list follows the newest comment (the viewer is at the bottom). */
  following = true
  /** New comments arrived while not following (the pill shows). */
  unseen = false
  private lastScrollTop = 0

  /** `key`: the comment list's data key; the flags are `<key>Follow` and `<key>Unseen`. */
  constructor(key: string) {
    this.followKey = `${key}Follow`
    this.unseenKey = `${key}Unseen`
  }

  readonly followKey: string
  readonly unseenKey: string

  /** The flags as a page starts with them. */
  initial(): Record<string, boolean> {
    return { [this.followKey]: true, [this.unseenKey]: false }
  }

  /** The scroll-view is at `top`: scrolling up (more than 2 px) stops following; following scrolls never go up. */
  scrolled(top: number): Record<string, boolean> | undefined {
    const up = top < this.lastScrollTop - 2
    this.lastScrollTop = top
    if (!up || !this.following) return undefined
    this.following = false
    return { [this.followKey]: false }
  }

  /** `added` comments arrived: the pill, once, when not following. */
  arrived(added: number): Record<string, boolean> | undefined {
    if (added === 0 || this.following || this.unseen) return undefined
    this.unseen = true
    return { [this.unseenKey]: true }
  }

  /** Back to the newest (the bottom reached, the pill tapped). */
  follow(): Record<string, boolean> | undefined {
    if (this.following && !this.unseen) return undefined
    this.following = true
    this.unseen = false
    return this.initial()
  }
}
