//! A session message as `postMessage` carries it between the page and the engine's worker: a JS
//! object `{ json, floats, bytes }` whose typed arrays' buffers are transferred, not copied (see
//! `session::transport` for the cut between the JSON and the arrays).

use crate::session::transport::{pack, unpack, Arrays, Bulky, Envelope};
use js_sys::{Array, Float32Array, Object, Reflect, Uint8Array};
use wasm_bindgen::{JsCast, JsValue};

/// The message as a JS object, and the list of buffers to transfer with it.
pub fn to_js<T: Bulky>(message: T) -> (JsValue, Array) {
    let Envelope { json, arrays } = pack(message);
    let (floats, bytes, transfer) = (Array::new(), Array::new(), Array::new());
    for values in arrays.floats {
        let array = Float32Array::from(&values[..]);
        transfer.push(&array.buffer());
        floats.push(&array);
    }
    for values in arrays.bytes {
        let array = Uint8Array::from(&values[..]);
        transfer.push(&array.buffer());
        bytes.push(&array);
    }
    let object = Object::new();
    // Setting a property of a fresh plain object cannot fail.
    let _ = Reflect::set(&object, &"json".into(), &JsValue::from_str(&json));
    let _ = Reflect::set(&object, &"floats".into(), &floats);
    let _ = Reflect::set(&object, &"bytes".into(), &bytes);
    (object.into(), transfer)
}

/// The message back from what [`to_js`] made.
pub fn from_js<T: Bulky>(data: &JsValue) -> Result<T, String> {
    let field = |name: &str| Reflect::get(data, &name.into()).map_err(|_| format!("a message without “{name}”"));
    let json = field("json")?.as_string().ok_or("a message whose JSON is not text")?;
    let list = |name: &str| -> Result<Array, String> { field(name)?.dyn_into::<Array>().map_err(|_| format!("a message whose “{name}” is not a list")) };
    let floats = list("floats")?
        .iter()
        .map(|a| a.dyn_into::<Float32Array>().map(|a| a.to_vec()).map_err(|_| "a picture that is not a Float32Array".to_string()))
        .collect::<Result<Vec<_>, _>>()?;
    let bytes = list("bytes")?
        .iter()
        .map(|a| a.dyn_into::<Uint8Array>().map(|a| a.to_vec()).map_err(|_| "a photo that is not a Uint8Array".to_string()))
        .collect::<Result<Vec<_>, _>>()?;
    unpack(Envelope { json, arrays: Arrays { floats, bytes } })
}
