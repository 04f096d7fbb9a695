//! `sort(list)` and `sort(list, less)`: stable in-place sorting.
//!
//! `sort(list)` sorts a list of numbers, or a list of strings, ascending.
//! Numbers compare by value (`-0` equals `0`; NaN sorts after every other
//! number), strings bytewise. Any other mix is an error naming the first
//! two types that cannot be compared: `sort() cannot compare number and
//! string.` This path is all Rust: the elements are copied out, sorted with
//! the standard library's stable sort (numbers through an integer key whose
//! order is the numbers' order), and written back.
//!
//! `sort(list, less)` orders by a Skein function: `less(a, b)` is true when
//! `a` goes before `b`. The comparisons are calls into Skein, which a
//! native cannot make (the interpreter is not re-entrant). So this path is
//! a built-in written in Skein ([`MERGE_SORT`]): a bottom-up merge sort,
//! compiled when the stdlib is installed and loaded *hidden* (its frames
//! are left out of stack traces). The `sort` native checks the arguments,
//! copies the list into a working list and a scratch list, and finishes
//! with a tail call (`Flow::TailCall`) of the Skein function, which calls
//! `less` as an ordinary call. Hence:
//! - a `less` that fails propagates its error, and the stack trace shows
//!   `less`'s frames, then the caller's (as if `sort` were a native);
//! - a `less` that parks (a channel, `sleep`) parks the goroutine with the
//!   whole sort state in its registers and two heap lists, so parking and
//!   garbage collection in the middle of a sort need nothing special;
//! - a `less` that changes the list does not disturb the sort, which works
//!   on its own copies; at the end the sorted elements are written back
//!   over the list's first elements ([`finish`]).
//!
//! The merge sort sorts runs of [`RUN`] elements by insertion, then merges
//! runs of doubling width between the two lists; a merge whose halves are
//! already in order is a copy (one comparison), so sorted input costs
//! O(n) comparisons. Merging takes from the right half only when `less`
//! says so strictly, which makes the sort stable.

use skein_vm::native::Flow;
use skein_vm::object::{as_list, as_string, Kind};
use skein_vm::value::Value;
use skein_vm::Ctx;

use crate::{type_name, R};

/// The key under which the merge sort is kept (`Runtime::builtin`).
pub(crate) const MERGE_KEY: &str = "sort.merge";
/// The key under which [`finish`] is kept.
pub(crate) const FINISH_KEY: &str = "sort.finish";

/// Elements per run sorted by insertion before the merges: insertion costs
/// few comparisons on runs this short and saves three merge passes.
const RUN: usize = 8;

/// The comparator path of `sort`, in Skein. `a` and `b` are two lists of
/// `n` elements (copies of `list`); the result ends up in `a` (swapped
/// after each pass) and `finish(list, a)` copies it back.
pub(crate) const MERGE_SORT: &str = r#"
fun merge_sort(list, less, a, b, n, finish) {
  // Insertion sort of each run of RUN elements.
  var lo = 0;
  while (lo < n) {
    var hi = lo + RUN;
    if (hi > n) hi = n;
    var i = lo + 1;
    while (i < hi) {
      var x = a[i];
      var j = i;
      while (j > lo) {
        var y = a[j - 1];
        if (!less(x, y)) break;
        a[j] = y;
        j = j - 1;
      }
      a[j] = x;
      i = i + 1;
    }
    lo = hi;
  }
  // Merge runs of doubling width from a into b, then swap the two.
  var width = RUN;
  while (width < n) {
    var start = 0;
    while (start < n) {
      var mid = start + width;
      var end = mid + width;
      if (mid > n) mid = n;
      if (end > n) end = n;
      var k = start;
      if (mid == end or !less(a[mid], a[mid - 1])) {
        // One run, or two already in order: copy.
        while (k < end) {
          b[k] = a[k];
          k = k + 1;
        }
      } else {
        var i = start;
        var j = mid;
        var x = a[i];
        var y = a[j];
        while (true) {
          if (less(y, x)) {
            b[k] = y;
            k = k + 1;
            j = j + 1;
            if (j == end) break;
            y = a[j];
          } else {
            b[k] = x;
            k = k + 1;
            i = i + 1;
            if (i == mid) break;
            x = a[i];
          }
        }
        while (i < mid) {
          b[k] = a[i];
          k = k + 1;
          i = i + 1;
        }
        while (j < end) {
          b[k] = a[j];
          k = k + 1;
          j = j + 1;
        }
      }
      start = end;
    }
    var t = a;
    a = b;
    b = t;
    width = width * 2;
  }
  finish(list, a);
}
"#;

/// The source of [`MERGE_SORT`] with its constant filled in.
pub(crate) fn merge_sort_source() -> String {
    MERGE_SORT.replace("RUN", &RUN.to_string())
}

/// `sort(list)` or `sort(list, less)`.
pub(crate) fn sort(vm: &mut Ctx, a: &[Value]) -> R {
    match a {
        [list] => sort_plain(*list),
        [list, less] => sort_less(vm, *list, *less),
        _ => Err(format!("Expected 1 or 2 arguments but got {}.", a.len()).into()),
    }
}

/// An integer whose unsigned order is the numbers' order: the IEEE bits
/// with the sign folded (negatives reversed below positives), `-0` mapped
/// to `0`, and NaN last.
fn number_key(v: Value) -> u64 {
    let x = v.as_number();
    if x.is_nan() {
        return u64::MAX;
    }
    // Adding zero turns -0 into +0 and changes no other number.
    let bits = (x + 0.0).to_bits();
    if bits >> 63 == 1 {
        !bits
    } else {
        bits | 1 << 63
    }
}

/// The bytes of a value already known to be a string.
fn bytes<'a>(v: Value) -> &'a [u8] {
    as_string(v).map_or(&[], |s| s.bytes())
}

fn sort_plain(list: Value) -> R {
    let Some(l) = as_list(list) else {
        return Err("sort() expects a list.".into());
    };
    let mut items = l.to_vec();
    let Some(&first) = items.first() else {
        return Ok(Value::NIL);
    };
    let numbers = first.is_number();
    let strings = first.is_kind(Kind::String);
    let odd = items
        .iter()
        .skip(1)
        .find(|v| !(numbers && v.is_number() || strings && v.is_kind(Kind::String)));
    if let Some(&other) = odd {
        return Err(format!(
            "sort() cannot compare {} and {}.",
            type_name(first),
            type_name(other)
        )
        .into());
    }
    if numbers {
        items.sort_by_key(|v| number_key(*v));
    } else if items.len() > 1 {
        items.sort_by(|x, y| bytes(*x).cmp(bytes(*y)));
    }
    for (i, v) in items.into_iter().enumerate() {
        // A racing `pop` may have shortened the list: `set` skips what is
        // gone.
        l.set(i, v);
    }
    Ok(Value::NIL)
}

fn sort_less(vm: &mut Ctx, list: Value, less: Value) -> R {
    let callable = matches!(
        less.kind(),
        Some(Kind::Closure | Kind::Native | Kind::BoundMethod)
    );
    let Some(l) = as_list(list).filter(|_| callable) else {
        return Err("sort() expects a list and a function.".into());
    };
    let items = l.to_vec();
    if items.len() < 2 {
        return Ok(Value::NIL);
    }
    let a = vm.new_list(&items);
    let b = vm.new_list(&items);
    let merge = vm
        .rt
        .builtin(MERGE_KEY)
        .expect("the stdlib keeps the merge sort");
    let finish = vm.rt.builtin(FINISH_KEY).expect("the stdlib keeps finish");
    let n = Value::number(items.len() as f64);
    Err(Flow::TailCall(merge, vec![list, less, a, b, n, finish]))
}

/// `finish(list, sorted)`: the merge sort's last step, copying the sorted
/// elements over the list's first ones.
pub(crate) fn finish(_vm: &mut Ctx, a: &[Value]) -> R {
    if let (Some(l), Some(sorted)) = (as_list(a[0]), as_list(a[1])) {
        for (i, v) in sorted.to_vec().into_iter().enumerate() {
            l.set(i, v);
        }
    }
    Ok(Value::NIL)
}

#[cfg(test)]
mod tests {
    use super::number_key;
    use skein_vm::value::Value;

    #[test]
    fn number_keys_order_like_numbers() {
        let xs = [
            f64::NEG_INFINITY,
            -1e300,
            -2.5,
            -1e-300,
            0.0,
            1e-300,
            1.0,
            3.5,
            1e300,
            f64::INFINITY,
            f64::NAN,
        ];
        for w in xs.windows(2) {
            assert!(
                number_key(Value::number(w[0])) < number_key(Value::number(w[1])),
                "{} < {}",
                w[0],
                w[1]
            );
        }
        assert_eq!(
            number_key(Value::number(-0.0)),
            number_key(Value::number(0.0))
        );
    }
}
