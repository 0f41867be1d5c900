# Install the Wireshark profile "tcpstate" for the invoking user.
#
#   cmake -DTCPSTATE_PROFILE_SRC=profiles/tcpstate -P profiles/install-profile.cmake
#
# (cmake --install runs it with TCPSTATE_PROFILE_SRC set.)  Where it goes
# follows Wireshark's own choice of the personal configuration folder:
# WIRESHARK_CONFIG_DIR if set, else ~/.wireshark if it exists and
# ~/.config/wireshark does not, else $XDG_CONFIG_HOME/wireshark, else
# ~/.config/wireshark; then profiles/tcpstate below it.  Run as root
# through sudo, it installs for SUDO_USER (their ~/.config/wireshark) and
# gives them the files.  No home folder, or DESTDIR set (a staged install):
# skipped with a message.  Existing files of the profile are replaced.
cmake_minimum_required(VERSION 3.20)

if(NOT TCPSTATE_PROFILE_SRC)
  get_filename_component(TCPSTATE_PROFILE_SRC "${CMAKE_CURRENT_LIST_DIR}/tcpstate" ABSOLUTE)
endif()
if(NOT TCPSTATE_PROFILE_FILES)
  set(TCPSTATE_PROFILE_FILES preferences colorfilters dfilter_buttons dfilters recent)
endif()
foreach(f ${TCPSTATE_PROFILE_FILES})
  if(NOT EXISTS "${TCPSTATE_PROFILE_SRC}/${f}")
    message(FATAL_ERROR "tcpstate profile: ${TCPSTATE_PROFILE_SRC}/${f} is missing")
  endif()
endforeach()

if(NOT "$ENV{DESTDIR}" STREQUAL "")
  message(STATUS "tcpstate profile: DESTDIR is set, not installed for a user "
                 "(copy ${TCPSTATE_PROFILE_SRC} to ~/.config/wireshark/profiles/tcpstate)")
  return()
endif()

set(_owner "")
set(_uid "")
execute_process(COMMAND id -u OUTPUT_VARIABLE _uid OUTPUT_STRIP_TRAILING_WHITESPACE
                RESULT_VARIABLE _rc ERROR_QUIET)
if(_uid STREQUAL "0" AND NOT "$ENV{SUDO_USER}" STREQUAL "" AND NOT "$ENV{SUDO_USER}" STREQUAL "root")
  # root through sudo: the user who typed sudo
  set(_owner "$ENV{SUDO_USER}")
  execute_process(COMMAND getent passwd "${_owner}" OUTPUT_VARIABLE _pw
                  OUTPUT_STRIP_TRAILING_WHITESPACE RESULT_VARIABLE _rc ERROR_QUIET)
  string(REPLACE ":" ";" _pw "${_pw}")
  list(LENGTH _pw _n)
  set(_home "")
  if(_rc EQUAL 0 AND _n GREATER 5)
    list(GET _pw 5 _home)
  endif()
  if(_home STREQUAL "" OR NOT IS_DIRECTORY "${_home}")
    message(STATUS "tcpstate profile: SUDO_USER ${_owner} has no home folder, not installed")
    return()
  endif()
  set(_conf "${_home}/.config/wireshark")
  if(IS_DIRECTORY "${_home}/.wireshark" AND NOT IS_DIRECTORY "${_conf}")
    set(_conf "${_home}/.wireshark")
  endif()
else()
  set(_home "$ENV{HOME}")
  if(NOT "$ENV{WIRESHARK_CONFIG_DIR}" STREQUAL "")
    set(_conf "$ENV{WIRESHARK_CONFIG_DIR}")
  elseif(_home STREQUAL "" OR NOT IS_DIRECTORY "${_home}")
    message(STATUS "tcpstate profile: no home folder (HOME is unset or not a folder), not installed")
    return()
  else()
    set(_xdg "$ENV{XDG_CONFIG_HOME}")
    if(_xdg STREQUAL "")
      set(_xdg "${_home}/.config")
    endif()
    set(_conf "${_xdg}/wireshark")
    if(IS_DIRECTORY "${_home}/.wireshark" AND NOT IS_DIRECTORY "${_conf}")
      set(_conf "${_home}/.wireshark")
    endif()
  endif()
endif()

set(_dest "${_conf}/profiles/tcpstate")
# the folders this install creates, outermost first (handed to SUDO_USER)
set(_created "")
set(_d "${_dest}")
while(NOT IS_DIRECTORY "${_d}")
  list(PREPEND _created "${_d}")
  get_filename_component(_d "${_d}" DIRECTORY)
endwhile()
file(MAKE_DIRECTORY "${_dest}")
foreach(f ${TCPSTATE_PROFILE_FILES})
  file(INSTALL DESTINATION "${_dest}" TYPE FILE FILES "${TCPSTATE_PROFILE_SRC}/${f}"
       PERMISSIONS OWNER_READ OWNER_WRITE GROUP_READ WORLD_READ)
endforeach()
if(NOT _owner STREQUAL "")
  set(_paths ${_created})
  foreach(f ${TCPSTATE_PROFILE_FILES})
    list(APPEND _paths "${_dest}/${f}")
  endforeach()
  execute_process(COMMAND id -g "${_owner}" OUTPUT_VARIABLE _gid OUTPUT_STRIP_TRAILING_WHITESPACE)
  execute_process(COMMAND chown "${_owner}:${_gid}" ${_paths} RESULT_VARIABLE _rc)
  if(NOT _rc EQUAL 0)
    message(WARNING "tcpstate profile: could not give ${_dest} to ${_owner}")
  endif()
endif()
message(STATUS "tcpstate profile: installed in ${_dest} (wireshark -C tcpstate, tshark -C tcpstate)")
