/**
 * A binary min-heap, for tasks ordered by the time they are due.
 *
 * @internal
 */
export class MinHeap<A> {
  private readonly items: Array<A> = []

  constructor(private readonly less: (a: A, b: A) => boolean) {}

  get size(): number {
    return this.items.length
  }

  peek(): A | undefined {
    return this.items[0]
  }

  push(item: A): void {
    const items = this.items
    items.push(item)
    let i = items.length - 1
    while (i > 0) {
      const parent = (i - 1) >> 1
      if (!this.less(items[i]!, items[parent]!)) break
      ;[items[i], items[parent]] = [items[parent]!, items[i]!]
      i = parent
    }
  }

  pop(): A | undefined {
    const items = this.items
    const top = items[0]
    const last = items.pop()
    if (items.length > 0 && last !== undefined) {
      items[0] = last
      let i = 0
      for (;;) {
        const left = 2 * i + 1
        const right = left + 1
        let smallest = i
        if (left < items.length && this.less(items[left]!, items[smallest]!)) smallest = left
        if (right < items.length && this.less(items[right]!, items[smallest]!)) smallest = right
        if (smallest === i) break
        ;[items[i], items[smallest]] = [items[smallest]!, items[i]!]
        i = smallest
      }
    }
    return top
  }

  clear(): void {
    this.items.length = 0
  }

  /** Removes every item `drop` picks, in linear time. */
  removeWhere(drop: (item: A) => boolean): void {
    const kept = this.items.filter((item) => !drop(item))
    this.items.length = 0
    for (const item of kept) this.push(item)
  }
}
