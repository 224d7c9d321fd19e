"""Sentences for people about metadata flags, in Russian, Kazakh and English."""

from __future__ import annotations

from evidence.content.metadata import Flag, FlagReason

_MESSAGES: dict[FlagReason, dict[str, str]] = {
    FlagReason.CAPTURE_AFTER_RECEIPT: {
        "en": "The capture time in the file is later than the time we received it.",
        "ru": "Время съёмки в файле позже времени, когда мы его получили.",
        "kk": "Файлдағы түсірілген уақыт оны біз алған уақыттан кейін.",
    },
    FlagReason.EDITING_SOFTWARE: {
        "en": "The file's metadata names editing software ({value}).",
        "ru": "В метаданных файла указана программа редактирования ({value}).",
        "kk": "Файл метадеректерінде өңдеу бағдарламасы көрсетілген ({value}).",
    },
    FlagReason.METADATA_MISSING: {
        "en": "The file carries no camera metadata (time, camera, location). Messengers such as "
        "WhatsApp and Telegram strip it; ask the observer for the original file.",
        "ru": "В файле нет метаданных камеры (время, камера, место). Мессенджеры (WhatsApp, "
        "Telegram) их удаляют; попросите у наблюдателя исходный файл.",
        "kk": "Файлда камера метадеректері жоқ (уақыт, камера, орын). WhatsApp, Telegram сияқты "
        "мессенджерлер оларды өшіреді; бақылаушыдан түпнұсқа файлды сұраңыз.",
    },
    FlagReason.GPS_FAR_FROM_PRECINCT: {
        "en": "The GPS position in the file is {km} km from the precinct.",
        "ru": "Координаты GPS в файле в {km} км от участка.",
        "kk": "Файлдағы GPS орны учаскеден {km} км қашықтықта.",
    },
    FlagReason.METADATA_UNREADABLE: {
        "en": "The file's metadata could not be read; the file is kept as evidence as received.",
        "ru": "Метаданные файла прочитать не удалось; файл сохранён как доказательство в "
        "полученном виде.",
        "kk": "Файл метадеректерін оқу мүмкін болмады; файл алынған күйінде дәлел ретінде "
        "сақталды.",
    },
    FlagReason.FILE_DAMAGED: {
        "en": "The file is damaged or incomplete; it is kept as evidence as received.",
        "ru": "Файл повреждён или неполон; он сохранён как доказательство в полученном виде.",
        "kk": "Файл бүлінген немесе толық емес; ол алынған күйінде дәлел ретінде сақталды.",
    },
    FlagReason.EMPTY_FILE: {
        "en": "The file is empty (0 bytes).",
        "ru": "Файл пуст (0 байт).",
        "kk": "Файл бос (0 байт).",
    },
    FlagReason.EXTENSION_MISMATCH: {
        "en": "The file's name says .{ext} but its content is {content}.",
        "ru": "Имя файла указывает на .{ext}, но по содержимому это {content}.",
        "kk": "Файл атауы .{ext} дейді, бірақ мазмұны бойынша ол {content}.",
    },
    FlagReason.EXTRACTOR_UNAVAILABLE: {
        "en": "The video's metadata was not read: ffprobe is unavailable ({detail}).",
        "ru": "Метаданные видео не прочитаны: ffprobe недоступен ({detail}).",
        "kk": "Бейне метадеректері оқылмады: ffprobe қолжетімсіз ({detail}).",
    },
}


def flag_message(flag: Flag, lang: str = "en") -> str:
    """The sentence for people about `flag`, in ``ru``, ``kk`` or ``en`` (the default)."""
    template = _MESSAGES[flag.reason].get(lang) or _MESSAGES[flag.reason]["en"]
    value = flag.value if isinstance(flag.value, dict) else {}
    return template.format(
        value=flag.value if isinstance(flag.value, str) else "",
        km=value.get("distance_km", ""),
        ext=value.get("extension", ""),
        content=value.get("content", ""),
        detail=value.get("detail", ""),
    )


def message_for(flag: dict, lang: str = "en") -> str:
    """The sentence for a flag as it is recorded in a custody entry (its ``to_dict`` form)."""
    try:
        reason = FlagReason(str(flag.get("reason")))
    except ValueError:
        return str(flag.get("reason"))
    return flag_message(Flag(reason, flag.get("value"), flag.get("field", "")), lang)
