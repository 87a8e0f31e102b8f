// Teaches ThreadSanitizer about Debian's Abseil synchronization primitives.
//
// Debian ships Abseil prebuilt without TSan instrumentation, so absl::Mutex,
// CondVar, Notification, BlockingCounter and Barrier synchronize through
// atomics and futexes TSan never sees. Every critical section guarded by an
// absl::Mutex then looks like a data race (153 reports in db_test alone).
//
// This file, linked into tsan builds only, defines the out-of-line entry
// points of those classes in the executable. The dynamic linker resolves
// calls to the executable's definitions first (also calls made from inside
// the shared library, which go through its PLT), so each call lands here: we
// forward to the library's definition (found with dlsym(RTLD_NEXT)) and tell
// TSan about the happens-before edge with __tsan_acquire/__tsan_release on
// the object's address, which is exactly the edge the primitive provides.
//
// Conditions (Mutex::Await, LockWhen) are evaluated inside the library, by
// whichever thread happens to hold the lock; their reads are ordered after
// every earlier unlock through one process-wide sync address, which can only
// hide races, never invent them.

#include <dlfcn.h>
#include <sanitizer/tsan_interface.h>

#include <cstdio>
#include <cstdlib>

#include "absl/synchronization/barrier.h"
#include "absl/synchronization/blocking_counter.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/time.h"

namespace {

char condition_sync;  // Address standing for "any earlier unlock".

// The library's definition of the symbol this file interposes on.
template <typename Fn>
Fn Next(const char* mangled_name) {
  void* fn = dlsym(RTLD_NEXT, mangled_name);
  if (fn == nullptr) {
    std::fprintf(stderr, "tsan absl annotations: %s not found: %s\n",
                 mangled_name, dlerror());
    std::abort();
  }
  return reinterpret_cast<Fn>(fn);
}

void Release(const void* sync) {
  __tsan_release(const_cast<void*>(sync));
  __tsan_release(&condition_sync);
}

void Acquire(const void* sync) { __tsan_acquire(const_cast<void*>(sync)); }

// The Mutex this thread is inside an operation on. Conditions are evaluated
// inside the library, with that Mutex held, by the waiter or by whichever
// thread unlocks; Condition::Eval orders its reads with the Mutex's other
// critical sections through it.
thread_local const void* current_mutex = nullptr;

class CurrentMutex {
 public:
  explicit CurrentMutex(const void* mu) : saved_(current_mutex) {
    current_mutex = mu;
  }
  ~CurrentMutex() { current_mutex = saved_; }

 private:
  const void* saved_;
};

// A Notification's flag sits right after its Mutex; HasBeenNotified() reads
// it inline (instrumented), so the release must be on that address too.
const void* NotifiedFlag(const absl::Notification* n) {
  return reinterpret_cast<const char*>(n) + sizeof(absl::Mutex);
}

// Abseil's deadlock detector keeps a lock-order graph guarded by its own
// internal spinlock, which TSan cannot see either; the graph's updates would
// be reported as races. TSan builds check for data races, not lock order.
const bool deadlock_detection_off = [] {
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);
  return true;
}();

}  // namespace

// The crash tests fork a child that appends to a DB (and so starts
// threads); TSan's default is to kill such a child.
extern "C" const char* __tsan_default_options() { return "die_after_fork=0"; }

// RocksDB is prebuilt without instrumentation too: its write path hands
// batches between threads with atomics TSan does not see (the leader of a
// write group appends the other writers' batches to its own), so races
// reported with RocksDB's code on a stack are not ours to judge. RocksDB's
// frames are missing from TSan's stacks (no instrumentation), so the rules
// also name the functions that hand a batch to DB::Write: the reports there
// show the leader's copy as a bare string append under them. Those
// functions' own races would be hidden too; they are small and run under
// the commit lock.
extern "C" const char* __tsan_default_suppressions() {
  return "race:librocksdb.so\n"
         "race:vigil::tsdb::DB::PersistSealed\n"
         "race:vigil::tsdb::DB::LogSeries\n"
         "race:vigil::tsdb::ChunkStore::Put\n"
         "race:vigil::tsdb::ChunkStore::ReplaceChunks\n";
}

namespace absl {
ABSL_NAMESPACE_BEGIN

void Mutex::Lock() {
  static auto next = Next<void (*)(Mutex*)>("_ZN4absl7debian35Mutex4LockEv");
  CurrentMutex scope(this);
  next(this);
  Acquire(this);
}

bool Mutex::TryLock() {
  static auto next = Next<bool (*)(Mutex*)>("_ZN4absl7debian35Mutex7TryLockEv");
  CurrentMutex scope(this);
  bool locked = next(this);
  if (locked) Acquire(this);
  return locked;
}

void Mutex::Unlock() {
  static auto next = Next<void (*)(Mutex*)>("_ZN4absl7debian35Mutex6UnlockEv");
  CurrentMutex scope(this);
  Release(this);
  next(this);
}

void Mutex::ReaderLock() {
  static auto next =
      Next<void (*)(Mutex*)>("_ZN4absl7debian35Mutex10ReaderLockEv");
  CurrentMutex scope(this);
  next(this);
  Acquire(this);
}

bool Mutex::ReaderTryLock() {
  static auto next =
      Next<bool (*)(Mutex*)>("_ZN4absl7debian35Mutex13ReaderTryLockEv");
  CurrentMutex scope(this);
  bool locked = next(this);
  if (locked) Acquire(this);
  return locked;
}

void Mutex::ReaderUnlock() {
  static auto next =
      Next<void (*)(Mutex*)>("_ZN4absl7debian35Mutex12ReaderUnlockEv");
  CurrentMutex scope(this);
  Release(this);
  next(this);
}

void Mutex::LockWhen(const Condition& cond) {
  static auto next = Next<void (*)(Mutex*, const Condition&)>(
      "_ZN4absl7debian35Mutex8LockWhenERKNS0_9ConditionE");
  CurrentMutex scope(this);
  next(this, cond);
  Acquire(this);
}

void Mutex::ReaderLockWhen(const Condition& cond) {
  static auto next = Next<void (*)(Mutex*, const Condition&)>(
      "_ZN4absl7debian35Mutex14ReaderLockWhenERKNS0_9ConditionE");
  CurrentMutex scope(this);
  next(this, cond);
  Acquire(this);
}

bool Mutex::LockWhenWithTimeout(const Condition& cond, Duration timeout) {
  static auto next = Next<bool (*)(Mutex*, const Condition&, Duration)>(
      "_ZN4absl7debian35Mutex19LockWhenWithTimeoutERKNS0_9ConditionENS0_"
      "8DurationE");
  CurrentMutex scope(this);
  bool result = next(this, cond, timeout);
  Acquire(this);  // Held on return either way.
  return result;
}

bool Mutex::LockWhenWithDeadline(const Condition& cond, Time deadline) {
  static auto next = Next<bool (*)(Mutex*, const Condition&, Time)>(
      "_ZN4absl7debian35Mutex20LockWhenWithDeadlineERKNS0_9ConditionENS0_"
      "4TimeE");
  CurrentMutex scope(this);
  bool result = next(this, cond, deadline);
  Acquire(this);
  return result;
}

bool Mutex::ReaderLockWhenWithTimeout(const Condition& cond, Duration timeout) {
  static auto next = Next<bool (*)(Mutex*, const Condition&, Duration)>(
      "_ZN4absl7debian35Mutex25ReaderLockWhenWithTimeoutERKNS0_"
      "9ConditionENS0_8DurationE");
  CurrentMutex scope(this);
  bool result = next(this, cond, timeout);
  Acquire(this);
  return result;
}

bool Mutex::ReaderLockWhenWithDeadline(const Condition& cond, Time deadline) {
  static auto next = Next<bool (*)(Mutex*, const Condition&, Time)>(
      "_ZN4absl7debian35Mutex26ReaderLockWhenWithDeadlineERKNS0_"
      "9ConditionENS0_4TimeE");
  CurrentMutex scope(this);
  bool result = next(this, cond, deadline);
  Acquire(this);
  return result;
}

// Await releases the lock while it waits and holds it again on return.
void Mutex::Await(const Condition& cond) {
  static auto next = Next<void (*)(Mutex*, const Condition&)>(
      "_ZN4absl7debian35Mutex5AwaitERKNS0_9ConditionE");
  CurrentMutex scope(this);
  Release(this);
  next(this, cond);
  Acquire(this);
}

bool Mutex::AwaitWithTimeout(const Condition& cond, Duration timeout) {
  static auto next = Next<bool (*)(Mutex*, const Condition&, Duration)>(
      "_ZN4absl7debian35Mutex16AwaitWithTimeoutERKNS0_9ConditionENS0_"
      "8DurationE");
  CurrentMutex scope(this);
  Release(this);
  bool result = next(this, cond, timeout);
  Acquire(this);
  return result;
}

bool Mutex::AwaitWithDeadline(const Condition& cond, Time deadline) {
  static auto next = Next<bool (*)(Mutex*, const Condition&, Time)>(
      "_ZN4absl7debian35Mutex17AwaitWithDeadlineERKNS0_9ConditionENS0_"
      "4TimeE");
  CurrentMutex scope(this);
  Release(this);
  bool result = next(this, cond, deadline);
  Acquire(this);
  return result;
}

bool Condition::Eval() const {
  static auto next =
      Next<bool (*)(const Condition*)>("_ZNK4absl7debian39Condition4EvalEv");
  const void* mu = current_mutex;
  if (mu == nullptr) {
    __tsan_acquire(&condition_sync);
    return next(this);
  }
  Acquire(mu);
  bool result = next(this);
  __tsan_release(const_cast<void*>(mu));
  return result;
}

void CondVar::Wait(Mutex* mu) {
  static auto next = Next<void (*)(CondVar*, Mutex*)>(
      "_ZN4absl7debian37CondVar4WaitEPNS0_5MutexE");
  CurrentMutex scope(mu);
  Release(mu);
  next(this, mu);
  Acquire(mu);
}

bool CondVar::WaitWithTimeout(Mutex* mu, Duration timeout) {
  static auto next = Next<bool (*)(CondVar*, Mutex*, Duration)>(
      "_ZN4absl7debian37CondVar15WaitWithTimeoutEPNS0_5MutexENS0_8DurationE");
  CurrentMutex scope(mu);
  Release(mu);
  bool result = next(this, mu, timeout);
  Acquire(mu);
  return result;
}

bool CondVar::WaitWithDeadline(Mutex* mu, Time deadline) {
  static auto next = Next<bool (*)(CondVar*, Mutex*, Time)>(
      "_ZN4absl7debian37CondVar16WaitWithDeadlineEPNS0_5MutexENS0_4TimeE");
  CurrentMutex scope(mu);
  Release(mu);
  bool result = next(this, mu, deadline);
  Acquire(mu);
  return result;
}

void Notification::Notify() {
  static auto next =
      Next<void (*)(Notification*)>("_ZN4absl7debian312Notification6NotifyEv");
  Release(this);
  __tsan_release(const_cast<void*>(NotifiedFlag(this)));
  next(this);
}

void Notification::WaitForNotification() const {
  static auto next = Next<void (*)(const Notification*)>(
      "_ZNK4absl7debian312Notification19WaitForNotificationEv");
  next(this);
  Acquire(this);
}

bool Notification::WaitForNotificationWithTimeout(Duration timeout) const {
  static auto next = Next<bool (*)(const Notification*, Duration)>(
      "_ZNK4absl7debian312Notification30WaitForNotificationWithTimeoutENS0_"
      "8DurationE");
  bool notified = next(this, timeout);
  if (notified) Acquire(this);
  return notified;
}

bool Notification::WaitForNotificationWithDeadline(Time deadline) const {
  static auto next = Next<bool (*)(const Notification*, Time)>(
      "_ZNK4absl7debian312Notification31WaitForNotificationWithDeadlineENS0_"
      "4TimeE");
  bool notified = next(this, deadline);
  if (notified) Acquire(this);
  return notified;
}

bool BlockingCounter::DecrementCount() {
  static auto next = Next<bool (*)(BlockingCounter*)>(
      "_ZN4absl7debian315BlockingCounter14DecrementCountEv");
  Release(this);
  return next(this);
}

void BlockingCounter::Wait() {
  static auto next = Next<void (*)(BlockingCounter*)>(
      "_ZN4absl7debian315BlockingCounter4WaitEv");
  next(this);
  Acquire(this);
}

bool Barrier::Block() {
  static auto next =
      Next<bool (*)(Barrier*)>("_ZN4absl7debian37Barrier5BlockEv");
  Release(this);
  bool last = next(this);
  Acquire(this);
  return last;
}

ABSL_NAMESPACE_END
}  // namespace absl
