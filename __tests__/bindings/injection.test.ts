// Room sharing through provideLiveClient / acquireLiveRoom (issue 10, problem 7: handles, not ids).
import { TestScheduler } from 'rxjs/testing'
import { acquireLiveRoom, heldLiveRooms, provideLiveClient, releaseLiveRoom } from '../../src/bindings/injection'
import { createLiveClient } from '../../src/connection/client'
import { FakePlatform } from '../../src/testing'

describe('acquireLiveRoom handles', () => {
  it("releasing an old client's handle leaves the new client's room alone", () => {
    new TestScheduler((a, b) => expect(a).toEqual(b)).run(() => {
      const platform = new FakePlatform()
      const make = () => createLiveClient({ url: 'ws://fake/ws', platform, token: 't', outbox: { storageKey: false }, lingerMs: 0 })
      const oldClient = make()
      provideLiveClient(oldClient, 'handles')
      const pageA = acquireLiveRoom('r1', undefined, 'handles')
      // The app replaces its client (a new login): page B opens the room on the new one.
      const newClient = make()
      provideLiveClient(newClient, 'handles')
      const pageB = acquireLiveRoom('r1', undefined, 'handles')
      expect(pageB.room).not.toBe(pageA.room)
      releaseLiveRoom(pageA)
      expect(heldLiveRooms()).toMatchObject({ 'handles/r1': 1 })
      // Twice is once.
      releaseLiveRoom(pageA)
      expect(heldLiveRooms()).toMatchObject({ 'handles/r1': 1 })
      const pageC = acquireLiveRoom('r1', undefined, 'handles')
      expect(pageC.room).toBe(pageB.room)
      releaseLiveRoom(pageB)
      releaseLiveRoom(pageB)
      expect(heldLiveRooms()).toMatchObject({ 'handles/r1': 1 })
      releaseLiveRoom(pageC)
      expect(heldLiveRooms()['handles/r1']).toBeUndefined()
      oldClient.close()
      newClient.close()
    })
  })
})
