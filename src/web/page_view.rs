//! What both pages show alike: the notices of a restored link, the share panel, file lists,
//! pointer positions on a scaled canvas, sizes and durations.

use web_sys::{HtmlCanvasElement, HtmlInputElement};
use yew::prelude::*;

pub fn files_of(list: Option<web_sys::FileList>) -> Vec<web_sys::File> {
    list.map(|l| (0..l.length()).filter_map(|i| l.get(i)).collect()).unwrap_or_default()
}

/// The pointer's position in canvas pixels (the canvas is shown scaled by CSS).
pub fn canvas_point(e: &MouseEvent) -> (f32, f32) {
    let canvas: HtmlCanvasElement = e.target_unchecked_into();
    let rect = canvas.get_bounding_client_rect();
    let scale_x = canvas.width() as f64 / rect.width().max(1.0);
    let scale_y = canvas.height() as f64 / rect.height().max(1.0);
    (((e.client_x() as f64 - rect.left()) * scale_x) as f32, ((e.client_y() as f64 - rect.top()) * scale_y) as f32)
}

pub fn mb(bytes: u64) -> String {
    format!("{:.1} MB", bytes as f64 / 1e6)
}

pub fn seconds(ms: f64) -> String {
    if ms < 1e3 {
        format!("{ms:.0} ms")
    } else if ms < 120e3 {
        format!("{:.1} s", ms / 1e3)
    } else {
        format!("{:.0} min {:.0} s", (ms / 60e3).floor(), (ms / 1e3) % 60.0)
    }
}

/// What the page says about the share link it was opened with.
pub fn link_notices(notices: &[String]) -> Html {
    if notices.is_empty() {
        return html! {};
    }
    html! { <div id="link-notice" class="notice">{ for notices.iter().map(|n| html! { <p>{ n }</p> }) }</div> }
}

/// "Copy link" under a result, the link itself once made, and whether it reached the clipboard.
pub fn share_panel(url: Option<&str>, copied: Option<&Result<(), String>>, auto_run: bool, on_auto_run: Callback<bool>, on_copy: Callback<()>) -> Html {
    let onchange = on_auto_run.reform(|e: Event| e.target_unchecked_into::<HtmlInputElement>().checked());
    let status = match copied {
        Some(Ok(())) => "Copied to the clipboard.".to_string(),
        Some(Err(e)) if url.is_some_and(|u| !u.is_empty()) => format!("Not copied ({e}): select the link above and copy it."),
        Some(Err(e)) => format!("Not copied: {e}."),
        None => "Copying…".to_string(),
    };
    html! {
      <div id="share" class="share">
        <h4>{ "Share" }</h4>
        <div class="row">
          <button id="copy-link" onclick={on_copy.reform(|_: MouseEvent| ())}>{ "Copy link" }</button>
          <label class="choice"><input id="link-autorun" type="checkbox" checked={auto_run} {onchange} />{ " runs when opened" }</label>
        </div>
        if let Some(url) = url {
          if !url.is_empty() { <input id="share-link" class="share-link" readonly=true value={url.to_string()} /> }
          <p id="copy-status" class="muted">{ status }</p>
        }
        <p class="muted">{ "The link holds the model, every setting, the seed and its edits — no photo of yours unless it is tiny, and             nothing is sent anywhere: it is all in the part after “#”. Opened on the same backend it computes the same ℘ at every             iteration and the same p." }</p>
      </div>
    }
}
